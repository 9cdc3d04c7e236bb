using System.Diagnostics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Protocol;
using Mesh.Abstractions.Telemetry;
using Mesh.Client;
using Mesh.Grains.Storage;
using Mesh.Grains.Telemetry;
using Microsoft.Extensions.Options;

namespace Mesh.Silo.Gateway;

/// <summary>
/// Edge sync: <c>POST /v2/devices/{id}/sync</c> with the device's token as a bearer token and a batch of results
/// (gzip allowed: Content-Encoding). Authorised by the device token, not an API key: a device holds no API key.
/// </summary>
public static class DeviceEndpoints
{
    public static void MapDeviceApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v2/devices/{device}/sync", SyncAsync).AllowAnonymous();
        app.MapGet("/v2/devices/{device}/models/{model}/versions/{version:int}/artifact", ArtifactAsync).AllowAnonymous();
        app.MapPost("/v2/devices/{device}/models/{model}/infer", FallbackInferAsync).AllowAnonymous();
        app.MapGet("/v2/devices/{device}/models/{model}/versions/{version:int}/validation", ValidationAsync).AllowAnonymous();
    }

    /// <summary>
    /// The edge-first fallback: a device whose local model is missing, failing or not confident enough asks its
    /// region, with its own token; usage is metered to "device:ID".
    /// </summary>
    private static async Task FallbackInferAsync(HttpContext http, string device, string model, MeshClient mesh,
        GatewayInference gateway, IOptions<GatewayOptions> options)
    {
        await AssignedAsync(http, device, model, mesh);
        await InferenceEndpoints.InferAsync(http, gateway, options.Value, model, null, "device:" + device);
    }

    /// <summary>
    /// A model file for a device's over-the-air update, with HTTP range requests so a download cut off (or a
    /// bridge restarted) resumes where it stopped. Only models assigned to the device are served to it.
    /// </summary>
    private static async Task<IResult> ArtifactAsync(HttpContext http, string device, string model, int version, MeshClient mesh, IArtifactStore artifacts, IOptions<GatewayOptions> options)
    {
        var chosen = await AssignedVersionAsync(http, device, model, version, mesh);
        var file = await artifacts.GetLocalFileAsync(chosen.ArtifactSha256, http.RequestAborted);
        http.Response.Headers["Mesh-Artifact-Sha256"] = chosen.ArtifactSha256;
        if (options.Value.ArtifactSigningKey is { Length: > 0 } keyPath)
        {
            using var key = ArtifactSignature.Load(keyPath, $"{GatewayOptions.Section}:{nameof(GatewayOptions.ArtifactSigningKey)}");
            http.Response.Headers[ArtifactSignature.Header] = ArtifactSignature.Sign(key, chosen.ArtifactSha256);
        }
        return Results.File(file, "application/octet-stream", enableRangeProcessing: true);
    }

    /// <summary>
    /// The check a device runs on a new version before it swaps: a fixed input and the outputs this region's
    /// ONNX Runtime gives for it, as Open Inference Protocol tensors.
    /// </summary>
    private static async Task<IResult> ValidationAsync(HttpContext http, string device, string model, int version, MeshClient mesh, GatewayInference gateway)
    {
        var chosen = await AssignedVersionAsync(http, device, model, version, mesh);
        var inputs = Mesh.Inference.Validation.ValidationInput.For(chosen.Signature);
        var response = await gateway.PredictAsync(new Mesh.Abstractions.Inference.PredictRequest(model, inputs, version), null, http.RequestAborted);
        return Results.Bytes(DeviceSyncJson.WriteValidationCase(inputs, response.Outputs), "application/json");
    }

    private static async Task<Mesh.Abstractions.Models.ModelVersionInfo> AssignedVersionAsync(HttpContext http, string device, string model, int version, MeshClient mesh)
    {
        await AssignedAsync(http, device, model, mesh);
        return await mesh.GetVersionAsync(model, version);
    }

    // A device reaches only the models assigned to it, with its own token.
    private static async Task AssignedAsync(HttpContext http, string device, string model, MeshClient mesh)
    {
        var info = await mesh.AuthenticateDeviceAsync(device, BearerHash(http, device));
        if (!info.Models.Contains(model, StringComparer.Ordinal))
            throw new InvalidRequestException("model", $"'{model}' is not assigned to device '{device}' (assigned: {(info.Models.Length == 0 ? "none" : string.Join(", ", info.Models))})");
    }

    private static string BearerHash(HttpContext http, string device)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || header.Length <= "Bearer ".Length)
            throw new DeviceAuthenticationException(device);
        return ApiKeys.Hash(header["Bearer ".Length..].Trim());
    }

    // A span's links are kept in memory until it ends; a batch of 2,048 results would carry 2,048.
    private const int MaxLinks = 128;

    private static async Task<IResult> SyncAsync(HttpContext http, string device, MeshClient mesh, IOptions<GatewayOptions> options)
    {
        var token = BearerHash(http, device);
        // The token is checked before a byte of the body is read or inflated: a caller without one costs a lookup.
        await mesh.AuthenticateDeviceAsync(device, token);
        var body = await InferenceEndpoints.ReadBodyAsync(http, options.Value.MaxRequestBodyBytes, nameof(GatewayOptions.MaxRequestBodyBytes));
        var batch = DeviceSyncJson.ReadBatch(body);
        MeshActor.Set("device:" + device);
        // The batch's own context is the parent (a retried batch keeps it); each result's predict is a link.
        var parent = batch.TraceParent is { } traceParent && ActivityContext.TryParse(traceParent, null, out var context) ? context : Activity.Current?.Context ?? default;
        var links = batch.Results.Select(r => r.TraceParent).OfType<string>().Distinct().Take(MaxLinks)
            .Select(t => ActivityContext.TryParse(t, null, out var c) ? new ActivityLink(c) : default).Where(l => l.Context != default);
        using var span = MeshMetrics.Source.StartActivity(MeshTelemetry.Spans.DeviceSync, ActivityKind.Internal, parent, links: links);
        span?.SetTag(MeshTelemetry.Tags.Device, device);
        span?.SetTag(MeshTelemetry.Tags.Results, batch.Results.Length);
        var ack = await mesh.SyncDeviceAsync(device, token, batch);
        return Results.Bytes(DeviceSyncJson.WriteAck(ack), "application/json");
    }
}
