using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Protocol;
using Mesh.Edge.Predicting;
using Mesh.Edge.Outbox;
using Mesh.Edge.Sync;
using Microsoft.Extensions.Options;
using Mesh.Edge.Configuration;

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
        app.MapGet("/v2/health/live", () => Results.Json(new LiveAnswer(true), LocalApiJson.Readable.LiveAnswer));
        app.MapGet("/v2/health/ready", () => Results.Json(new ReadyAnswer(true), LocalApiJson.Readable.ReadyAnswer));
        app.MapPost("/v2/models/{model}/infer", InferAsync);
        app.MapGet("/v2/edge/status", (ResultOutbox outbox, SyncState sync, LocalModels models, IOptions<EdgeBridgeOptions> options) => Results.Json(
            new EdgeStatus(options.Value.DeviceId, outbox.Depth, outbox.LastSequence, outbox.LostTotal, sync.AppliedThrough, sync.LastSyncAt,
                sync.LastError, sync.Syncs, models.All.Select(m => new ModelAnswer(m.Name, m.Version, m.Sha256)).ToArray(), sync.Desired,
                outbox.Synchronous),
            LocalApiJson.Readable.EdgeStatus));
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
            await http.Response.WriteAsJsonAsync(new ErrorAnswer(e.Message), LocalApiJson.Readable.ErrorAnswer);
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
