using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Protocol;

namespace Mesh.Client.Http;

/// <summary>
/// The mesh through its HTTP gateway (the Open Inference Protocol), for callers that cannot or should not join
/// the cluster as an Orleans client. Predicts travel with Triton's binary tensor extension both ways, so
/// tensors are never written as JSON numbers. Errors arrive as <see cref="MeshHttpException"/> with the
/// gateway's status and message.
/// </summary>
/// <param name="modelsPath">Where the models are: <c>v2/models</c>, or a device's own route (see <see cref="ForDevice"/>).</param>
public sealed class MeshHttpClient(HttpClient http, string? apiKey = null, string modelsPath = "v2/models")
{
    /// <summary>
    /// A device asking its region with its own token (the edge bridge's fallback): predicts go to
    /// <c>v2/devices/{id}/models/{m}/infer</c> and are metered to <c>device:ID</c>; only the default version is served.
    /// </summary>
    public static MeshHttpClient ForDevice(HttpClient http, string deviceId, string token) =>
        new(http, token, $"v2/devices/{Uri.EscapeDataString(deviceId)}/models");

    public async Task<PredictResponse> PredictAsync(PredictRequest request, InferOptions? options = null, CancellationToken cancellation = default)
    {
        var infer = (options ?? InferOptions.Default) with { AllOutputsBinary = true };
        var (body, headerLength) = InferenceJson.WriteRequest(request, infer, binaryInputs: true);
        using var message = Request(HttpMethod.Post, $"{ModelPath(request.Model, request.Version)}/infer");
        message.Content = new ByteArrayContent(body);
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (headerLength is int h) message.Content.Headers.Add(InferenceJson.HeaderLengthHeader, h.ToString(CultureInfo.InvariantCulture));

        using var response = await SendAsync(message, cancellation);
        int? responseHeader = response.Headers.TryGetValues(InferenceJson.HeaderLengthHeader, out var values)
            ? int.Parse(values.First(), CultureInfo.InvariantCulture)
            : null;
        return InferenceJson.ReadResponse(await response.Content.ReadAsByteArrayAsync(cancellation), responseHeader).Response;
    }

    /// <summary>Every deployed model version (the repository index).</summary>
    public async Task<RepositoryEntry[]> IndexAsync(CancellationToken cancellation = default)
    {
        using var message = Request(HttpMethod.Post, "v2/repository/index");
        message.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
        using var json = await SendJsonAsync(message, cancellation);
        return json.RootElement.EnumerateArray().Select(e => new RepositoryEntry(
            e.GetProperty("name").GetString()!,
            e.TryGetProperty("version", out var v) ? v.GetString() : null,
            e.GetProperty("state").GetString()!)).ToArray();
    }

    /// <summary>
    /// Uploads an ONNX file as the next version of <paramref name="model"/> (Mesh's deploy endpoint under Triton's
    /// repository extension); an admin key is needed once keys are configured.
    /// </summary>
    public async Task<DeployedVersion> DeployAsync(string model, byte[] onnx, bool makeDefault = true, CancellationToken cancellation = default)
    {
        using var message = Request(HttpMethod.Post, $"v2/repository/models/{Uri.EscapeDataString(model)}/versions" + (makeDefault ? "" : "?makeDefault=false"));
        message.Content = new ByteArrayContent(onnx);
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var json = await SendJsonAsync(message, cancellation);
        var root = json.RootElement;
        return new DeployedVersion(root.GetProperty("name").GetString()!, int.Parse(root.GetProperty("version").GetString()!, CultureInfo.InvariantCulture),
            root.GetProperty("sha256").GetString()!, root.GetProperty("bytes").GetInt64());
    }

    /// <summary>A model's metadata (versions, and the signature of the named or default version).</summary>
    public async Task<ModelMetadata> GetMetadataAsync(string model, int? version = null, CancellationToken cancellation = default)
    {
        using var message = Request(HttpMethod.Get, ModelPath(model, version));
        using var json = await SendJsonAsync(message, cancellation);
        var root = json.RootElement;
        return new ModelMetadata(
            root.GetProperty("name").GetString()!,
            root.GetProperty("versions").EnumerateArray().Select(v => v.GetString()!).ToArray(),
            root.GetProperty("platform").GetString()!,
            new ModelSignature(Specs(root.GetProperty("inputs")), Specs(root.GetProperty("outputs"))));
    }

    private static TensorSpec[] Specs(JsonElement tensors) => tensors.EnumerateArray().Select(t =>
    {
        InferenceJson.TryParseDataType(t.GetProperty("datatype").GetString()!, out var type);
        var shape = t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        return new TensorSpec(t.GetProperty("name").GetString()!, type, shape, new string?[shape.Length]);
    }).ToArray();

    private string ModelPath(string model, int? version) =>
        $"{modelsPath}/{Uri.EscapeDataString(model)}" + (version is int v ? $"/versions/{v}" : "");

    private HttpRequestMessage Request(HttpMethod method, string path)
    {
        var message = new HttpRequestMessage(method, path);
        if (apiKey is not null) message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return message;
    }

    private async Task<JsonDocument> SendJsonAsync(HttpRequestMessage message, CancellationToken cancellation)
    {
        using var response = await SendAsync(message, cancellation);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellation));
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage message, CancellationToken cancellation)
    {
        var response = await http.SendAsync(message, cancellation);
        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellation);
            string error;
            try { error = JsonDocument.Parse(text).RootElement.GetProperty("error").GetString() ?? text; }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException) { error = text; }
            throw new MeshHttpException((int)response.StatusCode, error);
        }
    }
}

public sealed record RepositoryEntry(string Name, string? Version, string State);

public sealed record DeployedVersion(string Model, int Version, string ArtifactSha256, long ArtifactBytes);

public sealed record ModelMetadata(string Name, string[] Versions, string Platform, ModelSignature Signature);

/// <summary>The gateway answered with an error status; <see cref="Exception.Message"/> is its <c>error</c> text.</summary>
public sealed class MeshHttpException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
