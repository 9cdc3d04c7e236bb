using Mesh.Abstractions.Events;
using System.Globalization;
using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Client;
using Mesh.Grains.Inference;
using Microsoft.Extensions.Options;

namespace Mesh.Silo.Gateway;

/// <summary>
/// Triton's model repository extension under /v2/repository, mapped onto the mesh: index lists every deployed
/// version; load warms a version's session in this silo (or, with Triton's <c>file:</c> parameters, deploys the
/// file first); unload releases this silo's idle sessions of the model. Deploy by upload is Mesh's own addition.
/// </summary>
public static class RepositoryEndpoints
{
    public static void MapRepositoryApi(this IEndpointRouteBuilder app)
    {
        var repository = app.MapGroup("/v2/repository").RequireRateLimiting(GatewayHosting.RateLimitPolicy);
        repository.MapPost("/index", IndexAsync).RequireAuthorization(GatewayRoles.Infer);
        repository.MapPost("/models/{model}/load", LoadAsync).RequireAuthorization(GatewayRoles.Admin);
        repository.MapPost("/models/{model}/unload", async (HttpContext http, string model, MeshClient mesh, SessionPool sessions, GatewayInference gateway) =>
        {
            MeshActor.Set(GatewayHosting.CallerOf(http.User));
            await UnloadAsync(mesh, sessions, gateway, model);
            return Results.Ok();
        }).RequireAuthorization(GatewayRoles.Admin);
        repository.MapPost("/models/{model}/versions", DeployAsync).RequireAuthorization(GatewayRoles.Admin);
    }

    private static async Task<IResult> IndexAsync(HttpContext http, MeshClient mesh, IOptions<GatewayOptions> options)
    {
        var body = await InferenceEndpoints.ReadBodyAsync(http, 64 * 1024, nameof(GatewayOptions.MaxRequestBodyBytes));
        var readyOnly = false;
        if (body.Length > 0)
        {
            using var json = ParseJson(body);
            if (json.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidRequestException("$", "must be a JSON object");
            if (json.RootElement.TryGetProperty("ready", out var ready))
                readyOnly = ready.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw new InvalidRequestException("ready", "must be true or false"),
                };
        }
        return Results.Json((await IndexOfAsync(mesh, readyOnly)).Select(e => new { name = e.Name, version = e.Version, state = e.State, reason = e.Reason }).ToArray());
    }

    /// <summary>
    /// Every deployed version and its state: READY while it can serve (a silo loads it on demand), UNAVAILABLE when
    /// the model is unloaded or the version retired, with the reason. <paramref name="readyOnly"/>: only the READY
    /// ones, as Triton's <c>ready</c> asks.
    /// </summary>
    public static async Task<(string Name, string Version, string State, string Reason)[]> IndexOfAsync(MeshClient mesh, bool readyOnly) =>
        (await mesh.ListModelsAsync())
            .SelectMany(m => m.Versions.Select(v => (m.Name, Version: v.Version.ToString(CultureInfo.InvariantCulture),
                State: m.Unloaded || v.Retired ? "UNAVAILABLE" : "READY", Reason: m.Unloaded ? "unloaded" : v.Retired ? "retired" : "")))
            .Where(e => !readyOnly || e.State == "READY")
            .ToArray();

    /// <summary>
    /// Triton's unload in a mesh: the model's state records it (an audited event, replicated like traffic), so every
    /// silo and region refuses its predicts and reports it not ready until a load. This silo forgets its route and
    /// releases its idle sessions at once; the others see it within their routing refresh and let theirs idle out.
    /// An unknown model is an error (404).
    /// </summary>
    public static async Task UnloadAsync(MeshClient mesh, SessionPool sessions, GatewayInference gateway, string model)
    {
        await mesh.SetServingAsync(model, false);
        gateway.Changed(model);
        sessions.Unload(model);
    }

    private static async Task<IResult> LoadAsync(HttpContext http, string model, MeshClient mesh, SessionPool sessions, GatewayInference gateway, IOptions<GatewayOptions> options)
    {
        var body = await InferenceEndpoints.ReadBodyAsync(http, options.Value.MaxModelBytes, nameof(GatewayOptions.MaxModelBytes));
        MeshActor.Set(GatewayHosting.CallerOf(http.User));
        var files = new List<byte[]>();
        if (body.Length > 0)
        {
            using var json = ParseJson(body);
            if (json.RootElement.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
            {
                foreach (var parameter in parameters.EnumerateObject())
                {
                    if (parameter.Name == ConfigParameter) throw ConfigRefused();
                    // Triton's way to hand a model over with the load call: "file:<version>/model.onnx" = base64.
                    if (!parameter.Name.StartsWith("file:", StringComparison.Ordinal)) continue;
                    if (parameter.Value.ValueKind != JsonValueKind.String || !parameter.Value.TryGetBytesFromBase64(out var onnx))
                        throw new InvalidRequestException($"parameters.{parameter.Name}", "must be the model file in base64");
                    files.Add(onnx);
                }
            }
        }
        await LoadModelAsync(mesh, sessions, gateway, model, files);
        return Results.Ok();
    }

    /// <summary>Triton's load parameter that overrides the model's configuration.</summary>
    public const string ConfigParameter = "config";

    /// <summary>
    /// A load that carries a configuration is refused rather than run without it: Mesh takes a model's signature from
    /// the ONNX file and its batching from the serving policy, so an override would be silently ignored otherwise.
    /// </summary>
    public static InvalidRequestException ConfigRefused() =>
        new($"parameters.{ConfigParameter}", "configuration overrides are not taken on load: Mesh reads inputs and outputs from the ONNX file, and batching, queue delay and instances from the serving policy (`mesh policy`); load without it");

    /// <summary>
    /// Triton's load on both transports: deploys the files handed over (Triton's <c>file:</c> parameters), then warms
    /// the session of the newest of them, or of the default version, in the silo that took the call.
    /// </summary>
    public static async Task LoadModelAsync(MeshClient mesh, SessionPool sessions, GatewayInference gateway, string model, IReadOnlyList<byte[]> files)
    {
        string? version = null;
        foreach (var onnx in files) version = (await mesh.DeployAsync(model, onnx)).Version.ToString(CultureInfo.InvariantCulture);
        await mesh.SetServingAsync(model, true);
        gateway.Changed(model);
        var (_, chosen) = await gateway.DescribeAsync(model, version);
        await sessions.WarmAsync(chosen);
    }

    private static async Task<IResult> DeployAsync(HttpContext http, string model, MeshClient mesh, GatewayInference gateway, IOptions<GatewayOptions> options, bool? makeDefault)
    {
        var onnx = await InferenceEndpoints.ReadBodyAsync(http, options.Value.MaxModelBytes, nameof(GatewayOptions.MaxModelBytes));
        // The version-registered event names the API key that deployed it.
        MeshActor.Set(GatewayHosting.CallerOf(http.User));
        var version = await mesh.DeployAsync(model, onnx, makeDefault ?? true);
        gateway.Changed(model);
        return Results.Json(new
        {
            name = version.Model,
            version = version.Version.ToString(CultureInfo.InvariantCulture),
            sha256 = version.ArtifactSha256,
            bytes = version.ArtifactBytes,
            platform = InferenceEndpoints.Platform,
        }, statusCode: StatusCodes.Status201Created);
    }

    private static JsonDocument ParseJson(byte[] body)
    {
        try { return JsonDocument.Parse(body); }
        catch (JsonException e) { throw new InvalidRequestException("$", $"not valid JSON: {e.Message}"); }
    }
}
