using System.Collections.Concurrent;

namespace Mesh.Grains.Telemetry;

/// <summary>
/// Triton's statistics extension for this silo: per model version, cumulative counts and nanoseconds of successful
/// and failed requests, queueing and model execution, rows inferred, executions, the last inference time, and
/// executions per batch size. Fed by the same calls as the meter (<see cref="MeshMetrics"/>), so the two agree.
/// </summary>
public sealed class InferenceStatistics(TimeProvider clock)
{
    private readonly ConcurrentDictionary<(string Model, int Version), Version> _versions = new();

    internal void Predicted(string model, int version, bool success, double milliseconds, int requests)
    {
        if (version <= 0) return; // never resolved to a version: nothing of a model ran
        var v = _versions.GetOrAdd((model, version), _ => new Version());
        lock (v)
        {
            if (success)
            {
                v.Success.Add(requests, milliseconds);
                v.LastInference = clock.GetUtcNow().ToUnixTimeMilliseconds();
            }
            else v.Fail.Add(requests, milliseconds);
        }
    }

    internal void Queued(string model, int version, double milliseconds)
    {
        var v = _versions.GetOrAdd((model, version), _ => new Version());
        lock (v) v.Queue.Add(1, milliseconds);
    }

    internal void Executed(string model, int version, int rows, int requests, double milliseconds)
    {
        var v = _versions.GetOrAdd((model, version), _ => new Version());
        lock (v)
        {
            v.ExecutionCount++;
            v.InferenceCount += rows;
            v.ComputeInfer.Add(requests, milliseconds);
            if (!v.Batches.TryGetValue(rows, out var batch)) v.Batches[rows] = batch = new Duration();
            batch.Add(1, milliseconds);
        }
    }

    /// <summary>Every version's figures, optionally of one model (and one version), ordered by model then version.</summary>
    public VersionStatistics[] Snapshot(string? model = null, int? version = null) =>
        _versions.Where(e => (model is null || e.Key.Model == model) && (version is null || e.Key.Version == version))
            .OrderBy(e => e.Key.Model, StringComparer.Ordinal).ThenBy(e => e.Key.Version)
            .Select(e =>
            {
                lock (e.Value) return e.Value.Freeze(e.Key.Model, e.Key.Version);
            }).ToArray();

    private sealed class Version
    {
        public readonly Duration Success = new(), Fail = new(), Queue = new(), ComputeInfer = new();
        public readonly SortedDictionary<int, Duration> Batches = [];
        public long InferenceCount, ExecutionCount, LastInference;

        public VersionStatistics Freeze(string model, int version) => new(model, version, LastInference, InferenceCount, ExecutionCount,
            Success.Freeze(), Fail.Freeze(), Queue.Freeze(), ComputeInfer.Freeze(), Batches.Select(b => (b.Key, b.Value.Freeze())).ToArray());
    }

    private sealed class Duration
    {
        private long _count;
        private double _nanoseconds;

        public void Add(int count, double milliseconds) => (_count, _nanoseconds) = (_count + count, _nanoseconds + milliseconds * 1e6);
        public DurationStatistic Freeze() => new(_count, (long)_nanoseconds);
    }
}

/// <summary>A cumulative count and its total duration in nanoseconds (Triton's StatisticDuration).</summary>
public readonly record struct DurationStatistic(long Count, long Nanoseconds);

/// <summary>One model version's statistics in one silo, as Triton's ModelStatistics reports them.</summary>
public sealed record VersionStatistics(string Model, int Version, long LastInferenceMs, long InferenceCount, long ExecutionCount,
    DurationStatistic Success, DurationStatistic Fail, DurationStatistic Queue, DurationStatistic ComputeInfer,
    (int BatchSize, DurationStatistic ComputeInfer)[] Batches);
