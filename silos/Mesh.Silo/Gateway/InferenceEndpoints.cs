using System.Globalization;
using System.Reflection;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Protocol;
using Mesh.Client;
using Mesh.Grains.Configuration;
using Mesh.Grains.Inference;
using Mesh.Grains.Telemetry;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Mesh.Silo.Gateway;

/// <summary>The Open Inference Protocol's REST API under /v2, as KServe and Triton serve it.</summary>
public static class InferenceEndpoints
{
    public const string Platform = "onnx_onnxv1";
    // Exactly the extensions Mesh implements (README's protocol section lists the same).
    public static readonly string[] Extensions = ["binary_tensor_data", "model_repository", "model_configuration", "statistics"];
    public static string ServerVersion { get; } =
        typeof(InferenceEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static void MapInferenceApi(this IEndpointRouteBuilder app)
    {
        var v2 = app.MapGroup("/v2");
        // Probes answer without a key and without counting against a rate limit.
        v2.MapGet("/health/live", () => Results.Json(new { live = true })).AllowAnonymous();
        v2.MapGet("/health/ready", (GatewayReadiness readiness) => readiness.IsReady
            ? Results.Json(new { ready = true })
            : Results.Json(new { ready = false }, statusCode: StatusCodes.Status503ServiceUnavailable)).AllowAnonymous();

        var api = v2.MapGroup("").RequireAuthorization(GatewayRoles.Infer).RequireRateLimiting(GatewayHosting.RateLimitPolicy);
        api.MapGet("", () => Results.Json(new { name = "mesh", version = ServerVersion, extensions = Extensions }));
        api.MapGet("/models/{model}", (string model, GatewayInference gateway) => MetadataAsync(gateway, model, null));
        api.MapGet("/models/{model}/versions/{version}", (string model, string version, GatewayInference gateway) => MetadataAsync(gateway, model, version));
        api.MapGet("/models/{model}/ready", (string model, GatewayInference gateway) => ReadyAsync(gateway, model, null));
        api.MapGet("/models/{model}/versions/{version}/ready", (string model, string version, GatewayInference gateway) => ReadyAsync(gateway, model, version));
        api.MapGet("/models/{model}/config", (string model, GatewayInference gateway, IOptions<InferenceOptions> inference) => ConfigAsync(gateway, model, null, inference.Value));
        api.MapGet("/models/{model}/versions/{version}/config", (string model, string version, GatewayInference gateway, IOptions<InferenceOptions> inference) => ConfigAsync(gateway, model, version, inference.Value));
        api.MapGet("/models/stats", (MeshClient mesh, InferenceStatistics statistics) => StatisticsAsync(mesh, statistics, null, null));
        api.MapGet("/models/{model}/stats", (string model, MeshClient mesh, InferenceStatistics statistics) => StatisticsAsync(mesh, statistics, model, null));
        api.MapGet("/models/{model}/versions/{version}/stats", (string model, string version, MeshClient mesh, InferenceStatistics statistics) => StatisticsAsync(mesh, statistics, model, version));
        api.MapPost("/models/{model}/infer", (HttpContext http, string model, GatewayInference gateway, IOptions<GatewayOptions> options) => InferAsync(http, gateway, options.Value, model, null));
        api.MapPost("/models/{model}/versions/{version}/infer", (HttpContext http, string model, string version, GatewayInference gateway, IOptions<GatewayOptions> options) => InferAsync(http, gateway, options.Value, model, version));
    }

    /// <summary>A version from a URL or request field: a positive number, or absent for the default.</summary>
    public static int? ParseVersion(string? version) =>
        string.IsNullOrEmpty(version) ? null
        : int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 ? v
        : throw new InvalidRequestException("version", $"'{version}' is not a version number");

    private static async Task<IResult> MetadataAsync(GatewayInference gateway, string model, string? version)
    {
        var (info, chosen) = await gateway.DescribeAsync(model, version);
        return Results.Json(new
        {
            name = info.Name,
            versions = info.Versions.Select(v => v.Version.ToString(CultureInfo.InvariantCulture)).ToArray(),
            platform = Platform,
            inputs = TensorMetadata(chosen.Signature.Inputs),
            outputs = TensorMetadata(chosen.Signature.Outputs),
        });
    }

    private static async Task<IResult> ConfigAsync(GatewayInference gateway, string model, string? version, InferenceOptions inference) =>
        Results.Content(TritonExtensions.Json(await ConfigOfAsync(gateway, model, version, inference)), "application/json");

    /// <summary>Triton's model configuration of the version a request names (or the default one).</summary>
    public static async Task<Mesh.Client.Grpc.ModelConfig> ConfigOfAsync(GatewayInference gateway, string model, string? version, InferenceOptions inference)
    {
        var (info, chosen) = await gateway.DescribeAsync(model, version);
        return TritonExtensions.Config(info, chosen, inference.Runners);
    }

    private static async Task<IResult> StatisticsAsync(MeshClient mesh, InferenceStatistics statistics, string? model, string? version) =>
        Results.Content(TritonExtensions.Json(await StatisticsOfAsync(mesh, statistics, model, version)), "application/json");

    /// <summary>
    /// This silo's statistics of every version of every model, of one model, or of one version; a version that has
    /// served nothing here reports zeros, as Triton's do. An unknown model or version is an error (404).
    /// </summary>
    public static async Task<Mesh.Client.Grpc.ModelStatisticsResponse> StatisticsOfAsync(MeshClient mesh, InferenceStatistics statistics, string? model, string? version)
    {
        var wanted = ParseVersion(version);
        ModelInfo[] models;
        if (string.IsNullOrEmpty(model)) models = await mesh.ListModelsAsync();
        else
        {
            var info = await mesh.GetModelAsync(model);
            if (wanted is int v && info.FindVersion(v) is null)
                throw new ModelVersionNotFoundException(model, v, info.Versions.Select(x => x.Version).ToArray());
            models = [info];
        }
        var measured = statistics.Snapshot(string.IsNullOrEmpty(model) ? null : model, wanted).ToDictionary(s => (s.Model, s.Version));
        var zero = new DurationStatistic(0, 0);
        var rows = models.SelectMany(m => m.Versions.Where(v => wanted is null || v.Version == wanted).Select(v =>
            measured.GetValueOrDefault((m.Name, v.Version)) ?? new VersionStatistics(m.Name, v.Version, 0, 0, 0, zero, zero, zero, zero, [])));
        return TritonExtensions.Statistics(rows);
    }

    /// <summary>Tensor inputs and outputs as the protocol lists them; sequences and maps have no protocol datatype.</summary>
    public static IEnumerable<(string Name, string Datatype, long[] Shape)> Tensors(IEnumerable<TensorSpec> specs) =>
        specs.Where(s => s.Kind == ValueKind.Tensor).Select(s => (s.Name, InferenceJson.DataTypeName(s.ElementType), s.Shape));

    private static object[] TensorMetadata(IEnumerable<TensorSpec> specs) =>
        Tensors(specs).Select(t => (object)new { name = t.Name, datatype = t.Datatype, shape = t.Shape }).ToArray();

    // A version can serve unless retired or its model unloaded: the first predict in a silo loads it on demand.
    // Not ready is an error answer (400 with the reason), as Triton gives it.
    private static async Task<IResult> ReadyAsync(GatewayInference gateway, string model, string? version)
    {
        var (info, _) = await gateway.ReadyAsync(model, version);
        return Results.Json(new { name = info.Name, ready = true });
    }

    /// <summary>One infer call; <paramref name="caller"/> replaces the API key's name (a device's fallback predicts).</summary>
    internal static async Task InferAsync(HttpContext http, GatewayInference gateway, GatewayOptions options, string model, string? version, string? caller = null)
    {
        var body = await ReadBodyAsync(http, options.MaxRequestBodyBytes, nameof(GatewayOptions.MaxRequestBodyBytes));
        var headerLength = HeaderLength(http, body.Length);
        var (request, infer) = InferenceJson.ReadRequest(model, ParseVersion(version),
            body.AsMemory(0, headerLength ?? body.Length), body.AsMemory(headerLength ?? body.Length));

        request = request with { Caller = caller ?? GatewayHosting.CallerOf(http.User), Priority = infer.Priority };
        var response = await gateway.PredictAsync(request, infer.Timeout, http.RequestAborted);

        var (bytes, responseHeaderLength) = InferenceJson.WriteResponse(response, infer);
        if (responseHeaderLength is int length)
        {
            http.Response.Headers[InferenceJson.HeaderLengthHeader] = length.ToString(CultureInfo.InvariantCulture);
            http.Response.ContentType = "application/octet-stream";
        }
        else http.Response.ContentType = "application/json";
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted);
    }

    private static int? HeaderLength(HttpContext http, int bodyLength)
    {
        if (!http.Request.Headers.TryGetValue(InferenceJson.HeaderLengthHeader, out var value)) return null;
        return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var length) && length <= bodyLength
            ? length
            : throw new InvalidRequestException(InferenceJson.HeaderLengthHeader, $"must be the JSON's length in bytes, at most the body's {bodyLength} (was '{value}')");
    }

    /// <summary>
    /// Reads the whole body, refusing (413) past <paramref name="limit"/>, the setting <paramref name="key"/>. The
    /// limit counts the bytes as they arrive, after any Content-Encoding is undone, so a small gzip body cannot
    /// inflate past it: decompression stops at the limit. The buffer grows with what arrives, not with what the
    /// Content-Length header declares.
    /// </summary>
    public static async Task<byte[]> ReadBodyAsync(HttpContext http, long limit, string key)
    {
        var feature = http.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false }) feature.MaxRequestBodySize = limit;
        if (http.Request.ContentLength > limit)
            throw new RequestTooLargeException(limit, key);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(InitialBodyBuffer);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    // Grown only when the bytes so far fill it, and never past one byte over the limit (enough to tell
                    // a body at the limit from one beyond it).
                    var grown = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Min(Math.Min((long)buffer.Length * 2, limit + 1), Array.MaxLength));
                    buffer.AsSpan(0, length).CopyTo(grown);
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                    buffer = grown;
                }
                var read = await http.Request.Body.ReadAsync(buffer.AsMemory(length, (int)Math.Min(buffer.Length - length, limit + 1 - length)), http.RequestAborted);
                if (read == 0) break;
                length += read;
                if (length > limit) throw new RequestTooLargeException(limit, key);
            }
            return buffer.AsSpan(0, length).ToArray();
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new RequestTooLargeException(limit, key);
        }
        catch (InvalidDataException e)
        {
            // What the gzip or deflate decoder says of a body that is not what its Content-Encoding claims.
            throw new InvalidRequestException("Content-Encoding", $"the body is not valid {http.Request.Headers.ContentEncoding} data ({e.Message})");
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private const int InitialBodyBuffer = 16 * 1024;
}
