using System.Diagnostics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Telemetry;
using Mesh.Grains.Telemetry;
using Orleans.Concurrency;

namespace Mesh.Grains.Inference;

/// <summary>
/// Stateless worker: Orleans activates it in whichever silo receives the predict (as many copies as load asks
/// for), and it hands the predict to that silo's batcher for the version. Reentrant because it keeps no state:
/// a copy waiting for its batch does not hold up the predicts behind it.
/// </summary>
[StatelessWorker, Reentrant]
public sealed class InferenceGrain(
    ModelVersionDirectory directory,
    InferenceScheduler scheduler,
    MeshMetrics metrics) : Grain, IInferenceGrain
{
    public async Task<PredictResponse> PredictAsync(PredictRequest request)
    {
        using var activity = MeshMetrics.StartServerSpan(MeshTelemetry.Spans.Predict);
        activity?.SetTag(MeshTelemetry.Tags.Model, request.Model);
        var started = Stopwatch.GetTimestamp();
        var version = request.Version ?? 0;
        try
        {
            var (info, policy) = await directory.ResolveAsync(request.Model, request.Version);
            version = info.Version;
            activity?.SetTag(MeshTelemetry.Tags.Version, version);
            ThrowIfPastDeadline(request, "before the version was resolved");

            var response = await scheduler.PredictAsync(info, policy, request);
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

    private static void ThrowIfPastDeadline(PredictRequest request, string stage)
    {
        if (request.Deadline is DateTimeOffset deadline && DateTimeOffset.UtcNow > deadline)
            throw new DeadlineExceededException(request.Model, stage);
    }
}
