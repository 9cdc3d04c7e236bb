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
/// for), and it runs on that silo's shared session. Reentrant because it keeps no state: a copy waiting for a
/// cold start does not hold up predicts that need nothing loaded.
/// </summary>
[StatelessWorker, Reentrant]
public sealed class InferenceGrain(
    ModelVersionDirectory directory,
    SessionPool sessions,
    MeshMetrics metrics,
    ILocalSiloDetails silo) : Grain, IInferenceGrain
{
    public async Task<PredictResponse> PredictAsync(PredictRequest request)
    {
        using var activity = MeshMetrics.StartServerSpan(MeshTelemetry.Spans.Predict);
        activity?.SetTag(MeshTelemetry.Tags.Model, request.Model);
        var started = Stopwatch.GetTimestamp();
        var version = request.Version ?? 0;
        try
        {
            var info = await directory.ResolveAsync(request.Model, request.Version);
            version = info.Version;
            activity?.SetTag(MeshTelemetry.Tags.Version, version);

            ThrowIfPastDeadline(request, "before the version was resolved");
            using var lease = await sessions.AcquireAsync(info);
            activity?.SetTag(MeshTelemetry.Tags.ColdStart, lease.ColdStart);
            ThrowIfPastDeadline(request, lease.ColdStart ? "while the session loaded (cold start)" : "before the run");
            var outputs = lease.Session.Run(version, request.Inputs, request.Outputs);

            metrics.Predicted(request.Model, version, "success", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return new PredictResponse(request.Model, version, outputs, lease.ColdStart, silo.SiloAddress.ToString());
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
