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
        repository.MapPost("/models/{model}/unload", (string model, SessionPool sessions) =>
        {
            sessions.Unload(model);
            return Results.Ok();
        }).RequireAuthorization(GatewayRoles.Admin);
        repository.MapPost("/models/{model}/versions", DeployAsync).RequireAuthorization(GatewayRoles.Admin);
    }

    private static async Task<IResult> IndexAsync(MeshClient mesh)
    {
        var models = await mesh.ListModelsAsync();
        return Results.Json(models.SelectMany(m => m.Versions.Select(v => new
        {
            name = m.Name,
            version = v.Version.ToString(CultureInfo.InvariantCulture),
            state = "READY",
            reason = "",
        })).ToArray());
    }

    private static async Task<IResult> LoadAsync(HttpContext http, string model, MeshClient mesh, SessionPool sessions, IOptions<GatewayOptions> options)
    {
        var body = await InferenceEndpoints.ReadBodyAsync(http, options.Value.MaxModelBytes, nameof(GatewayOptions.MaxModelBytes));
        MeshActor.Set(GatewayHosting.CallerOf(http.User));
        string? version = null;
        if (body.Length > 0)
        {
            using var json = ParseJson(body);
            if (json.RootElement.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
            {
                foreach (var parameter in parameters.EnumerateObject())
                {
                    // Triton's way to hand a model over with the load call: "file:<version>/model.onnx" = base64.
                    if (!parameter.Name.StartsWith("file:", StringComparison.Ordinal)) continue;
                    if (parameter.Value.ValueKind != JsonValueKind.String || !parameter.Value.TryGetBytesFromBase64(out var onnx))
                        throw new InvalidRequestException($"parameters.{parameter.Name}", "must be the model file in base64");
                    version = (await mesh.DeployAsync(model, onnx)).Version.ToString(CultureInfo.InvariantCulture);
                }
            }
        }
        var (_, chosen) = await InferenceEndpoints.ResolveAsync(mesh, model, version);
        await sessions.WarmAsync(chosen);
        return Results.Ok();
    }

    private static async Task<IResult> DeployAsync(HttpContext http, string model, MeshClient mesh, IOptions<GatewayOptions> options, bool? makeDefault)
    {
        var onnx = await InferenceEndpoints.ReadBodyAsync(http, options.Value.MaxModelBytes, nameof(GatewayOptions.MaxModelBytes));
        // The version-registered event names the API key that deployed it.
        MeshActor.Set(GatewayHosting.CallerOf(http.User));
        var version = await mesh.DeployAsync(model, onnx, makeDefault ?? true);
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
