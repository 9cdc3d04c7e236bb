namespace Mesh.Abstractions.Grains;

/// <summary>
/// What one silo serves right now, as it publishes it every second (key: the silo's address). Kept in memory
/// only: the console reads it for the silos the cluster lists as active.
/// </summary>
public interface ISiloStatsGrain : IGrainWithStringKey
{
    Task PublishAsync(SiloStats stats);

    /// <summary>The latest figures, or null when the silo has published none.</summary>
    Task<SiloStats?> GetAsync();
}

/// <summary>A silo's loaded sessions and its traffic per model since it started.</summary>
[GenerateSerializer, Immutable]
public sealed record SiloStats(string Silo, DateTimeOffset At, LoadedSession[] Sessions, ModelTraffic[] Models);

[GenerateSerializer, Immutable]
public sealed record LoadedSession(string Model, int Version);

/// <summary>
/// One model's predicts in one silo: totals since the silo started (they match its mesh_predict_requests_total and
/// mesh_cold_starts_total series), the rate over the last publishing interval, and latency percentiles over its
/// most recent predicts (up to 1,024).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ModelTraffic(string Model, long Requests, long Failures, long ColdStarts, double RequestsPerSecond, double P50Ms, double P95Ms, double P99Ms);
