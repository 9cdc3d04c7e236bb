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
public sealed record SiloStats(string Silo, DateTimeOffset At, LoadedSession[] Sessions, ModelTraffic[] Models)
{
    /// <summary>A model's shadow tallies summed over these silos, one per shadow version, lowest first.</summary>
    public static ShadowTally[] ShadowTallies(IEnumerable<SiloStats> silos, string model)
    {
        var tallies = silos.SelectMany(s => s.Models).Where(m => m.Model == model).SelectMany(m => m.Shadows ?? []).ToArray();
        return tallies.Select(t => t.ShadowVersion).Distinct().Order().Select(v => ShadowTally.Sum(v, tallies)).ToArray();
    }
}

[GenerateSerializer, Immutable]
public sealed record LoadedSession(string Model, int Version);

/// <summary>
/// One model's predicts in one silo: totals since the silo started (they match its mesh_predict_requests_total and
/// mesh_cold_starts_total series), the rate over the last publishing interval, and latency percentiles over its
/// most recent predicts (up to 1,024).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ModelTraffic(string Model, long Requests, long Failures, long ColdStarts, double RequestsPerSecond, double P50Ms, double P95Ms, double P99Ms,
    ShadowTally[]? Shadows = null);

/// <summary>
/// How a shadow version's answers compared with the served version's, counted since the silo started: copies that
/// agreed, that disagreed, and that failed to run (the same counts as mesh_shadow_comparisons_total).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ShadowTally(int ServedVersion, int ShadowVersion, long Agreed, long Disagreed, long Errors)
{
    public long Compared => Agreed + Disagreed;

    /// <summary>Share of the compared answers that agreed (null before the first comparison).</summary>
    public double? Agreement => Compared == 0 ? null : (double)Agreed / Compared;

    /// <summary>The tallies of one shadow version summed over silos and served versions.</summary>
    public static ShadowTally Sum(int shadowVersion, IEnumerable<ShadowTally> tallies)
    {
        var (agreed, disagreed, errors, served) = (0L, 0L, 0L, 0);
        foreach (var t in tallies.Where(t => t.ShadowVersion == shadowVersion))
            (agreed, disagreed, errors, served) = (agreed + t.Agreed, disagreed + t.Disagreed, errors + t.Errors, t.ServedVersion);
        return new ShadowTally(served, shadowVersion, agreed, disagreed, errors);
    }

    /// <summary>"agreed 95 of 100 (95.0 %), 0 failed"; what the CLI and the console show.</summary>
    public string Describe() =>
        Agreement is { } share
            ? $"agreed {Agreed} of {Compared} ({share * 100:F1} %), {Errors} failed"
            : $"no answers compared yet, {Errors} failed";
}
