using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Protocol;
using Mesh.EdgeBridge.Outbox;
using Mesh.EdgeBridge.Sync;
using Microsoft.Extensions.Options;
using Mesh.EdgeBridge.Configuration;

namespace Mesh.EdgeBridge.LocalApi;

/// <summary>
/// The bridge's loopback API for sensors and apps: the Open Inference Protocol's infer call (JSON) on the local
/// models, readiness, and the bridge's own status. Each answer names the result's sequence number and origin.
/// </summary>
public static class LocalEndpoints
{
    public const string SequenceHeader = "Mesh-Result-Sequence";
    public const string OriginHeader = "Mesh-Result-Origin";

    public static void MapLocalApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v2/health/live", () => Results.Json(new { live = true }));
        app.MapGet("/v2/health/ready", () => Results.Json(new { ready = true }));
        app.MapPost("/v2/models/{model}/infer", InferAsync);
        app.MapGet("/v2/edge/status", (ResultOutbox outbox, SyncState sync, LocalModels models, IOptions<EdgeBridgeOptions> options) => Results.Json(new
        {
            device = options.Value.DeviceId,
            outbox_depth = outbox.Depth,
            last_sequence = outbox.LastSequence,
            lost = outbox.LostTotal,
            applied_through = sync.AppliedThrough,
            last_sync = sync.LastSyncAt,
            last_error = sync.LastError,
            syncs = sync.Syncs,
            models = models.All.Select(m => new { name = m.Name, version = m.Version }),
            desired = sync.Desired,
        }));
    }

    private static async Task InferAsync(HttpContext http, string model, EdgePredictor predictor)
    {
        try
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, http.RequestAborted);
            var (request, _) = InferenceJson.ReadRequest(model, null, body.ToArray(), ReadOnlyMemory<byte>.Empty);
            var prediction = await predictor.PredictAsync(request);
            http.Response.Headers[SequenceHeader] = prediction.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture);
            http.Response.Headers[OriginHeader] = prediction.Origin;
            var (answer, _) = InferenceJson.WriteResponse(prediction.Response, InferOptions.Default);
            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(answer, http.RequestAborted);
        }
        catch (Exception e) when (StatusOf(e) is { } status)
        {
            http.Response.StatusCode = status;
            await http.Response.WriteAsJsonAsync(new { error = e.Message });
        }
    }

    /// <summary>The HTTP status for an error a caller should see; null for a fault of the bridge itself.</summary>
    public static int? StatusOf(Exception e) => e switch
    {
        MeshNotFoundException => StatusCodes.Status404NotFound,
        MeshInvalidArgumentException or JsonException => StatusCodes.Status400BadRequest,
        OutboxFullException or FallbackUnavailableException => StatusCodes.Status503ServiceUnavailable,
        _ => null,
    };
}
