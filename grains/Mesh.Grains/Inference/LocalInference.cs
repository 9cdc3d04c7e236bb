using System.Diagnostics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Telemetry;
using Mesh.Grains.Telemetry;

namespace Mesh.Grains.Inference;

/// <summary>
/// A predict served in this silo: the version from the silo's routing table, then the version's batcher here.
/// The inference grain runs this for calls that come through Orleans; the silo's own HTTP and gRPC gateway runs it
/// directly, since a gateway request is already in the silo that should serve it and a grain message would only
/// add a hop.
/// </summary>
public sealed class LocalInference(ModelVersionDirectory directory, InferenceScheduler scheduler, MeshMetrics metrics)
{
    /// <summary>Serves one predict; <paramref name="partOfGroup"/> when it arrived with others that should batch with it.</summary>
    public async Task<PredictResponse> PredictAsync(PredictRequest request, bool partOfGroup = false)
    {
        using var activity = MeshMetrics.StartServerSpan(MeshTelemetry.Spans.Predict);
        activity?.SetTag(MeshTelemetry.Tags.Model, request.Model);
        var started = Stopwatch.GetTimestamp();
        var version = request.Version ?? 0;
        try
        {
            ModelName.Validate(request.Model);
            var (info, policy) = await directory.ResolveAsync(request.Model, request.Version);
            version = info.Version;
            activity?.SetTag(MeshTelemetry.Tags.Version, version);
            if (request.Deadline is DateTimeOffset deadline && DateTimeOffset.UtcNow > deadline)
                throw new DeadlineExceededException(request.Model, "before the version was resolved");

            var response = await scheduler.PredictAsync(info, policy, request, allowInline: !partOfGroup);
            activity?.SetTag(MeshTelemetry.Tags.ColdStart, response.ColdStart);
            metrics.Predicted(request.Model, version, "success", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return response;
        }
        catch (Exception e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            activity?.SetTag(MeshTelemetry.Tags.ErrorType, e.GetType().Name);
            metrics.Predicted(request.Model, version, "failure", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            throw;
        }
    }
}
