using System.Diagnostics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;
using Mesh.Client.Http;
using Mesh.Protocol;
using Mesh.Abstractions.Telemetry;
using Mesh.Abstractions.Tensors;
using Mesh.Edge.Configuration;
using Mesh.Edge.Telemetry;
using Mesh.Edge.Outbox;
using Mesh.Edge.Sync;
using Microsoft.Extensions.Options;

namespace Mesh.Edge.Predicting;

/// <summary>A predict's answer on the device: the outputs, the result's sequence number, and where it was computed.</summary>
public sealed record EdgePrediction(PredictResponse Response, long Sequence, string Origin);

/// <summary>The model is not on the device and the region could not answer for it either.</summary>
public sealed class FallbackUnavailableException(string model, string why)
    : Exception($"model '{model}' is not on this device and the region could not answer: {why}");

/// <summary>
/// The one way a predict runs on the device: locally when the model is here and confident enough, otherwise at
/// the home region (edge-first fallback: model missing, failing, or its top output below the model's
/// Mesh:Edge:Models:N:ConfidenceThreshold); then the result is stored durably, marked with its origin, and only
/// then answered. A low-confidence local answer stands when the region cannot be reached.
/// </summary>
public sealed class EdgePredictor(LocalModels models, ResultOutbox outbox, Drift.DriftStatistics drift, IHttpClientFactory http, IOptions<EdgeBridgeOptions> options, ILogger<EdgePredictor> logger)
{
    public const string EdgeOrigin = "edge";
    public const string RegionOrigin = "region";
    private readonly EdgeBridgeOptions _options = options.Value;

    public async Task<EdgePrediction> PredictAsync(PredictRequest request)
    {
        using var span = EdgeTelemetry.Source.StartActivity(MeshTelemetry.Spans.EdgePredict);
        span?.SetTag(MeshTelemetry.Tags.Model, request.Model);
        var at = DateTimeOffset.UtcNow;
        PredictResponse response;
        string origin;
        (LocalModel Model, NamedTensor[] Outputs)? local;
        try
        {
            local = models.Run(request);
        }
        catch (InferenceFailedException e) when (CanFallBack)
        {
            logger.LogWarning("Local model {Model} failed, asking the region: {Error}", request.Model, e.Message);
            local = null;
        }

        if (local is not { } ran)
        {
            if (!CanFallBack) throw new ModelNotFoundException(request.Model);
            try
            {
                (response, origin) = (await ForwardAsync(request), RegionOrigin);
            }
            catch (MeshHttpException e)
            {
                throw new FallbackUnavailableException(request.Model, $"the region answered {e.Status}: {e.Message}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                throw new FallbackUnavailableException(request.Model, e.Message);
            }
        }
        else
        {
            response = new PredictResponse(ran.Model.Name, ran.Model.Version, ran.Outputs, false, "edge:" + _options.DeviceId);
            origin = EdgeOrigin;
            if (CanFallBack && Threshold(request.Model) is { } threshold && Confidence(ran.Outputs) is { } confidence && confidence < threshold)
            {
                try
                {
                    (response, origin) = (await ForwardAsync(request), RegionOrigin);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or MeshHttpException or MeshException)
                {
                    logger.LogDebug("Region unreachable for a low-confidence predict of {Model}; the local answer stands: {Error}", request.Model, e.Message);
                }
            }
        }

        drift.Observe(response.Model, request.Inputs);
        span?.SetTag(MeshTelemetry.Tags.Version, response.Version);
        span?.SetTag(OriginTag, origin);
        var result = new DeviceResult(0, response.Model, response.Version, at, origin, DeviceSyncJson.InputDigest(request.Inputs), response.Outputs, span?.Id);
        var sequence = await outbox.AppendAsync(result);
        return new EdgePrediction(response, sequence, origin);
    }

    private const string OriginTag = "mesh.result.origin";

    private bool CanFallBack => !string.IsNullOrEmpty(_options.MeshUrl);

    private double? Threshold(string model) => _options.Models.FirstOrDefault(m => m.Name == model)?.ConfidenceThreshold;

    // A classifier's confidence: the largest value of its first float output (probabilities).
    private static double? Confidence(NamedTensor[] outputs)
    {
        var first = outputs.FirstOrDefault(o => o.ElementType == TensorElementType.Float32 && o.ElementCount > 0);
        if (first is null) return null;
        var max = float.MinValue;
        foreach (var v in first.AsSpan<float>()) max = Math.Max(max, v);
        return max;
    }

    // Binary tensors both ways, as every HTTP client of the mesh sends them; the fallback timeout bounds the whole call.
    private async Task<PredictResponse> ForwardAsync(PredictRequest request)
    {
        using var timeout = new CancellationTokenSource(_options.FallbackTimeout);
        var region = MeshHttpClient.ForDevice(http.CreateClient(SyncWorker.HttpClientName), _options.DeviceId, _options.Token);
        return await region.PredictAsync(request with { Version = null }, cancellation: timeout.Token);
    }
}
