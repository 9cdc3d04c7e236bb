using Mesh.Abstractions.Events;
using Mesh.Abstractions.Models;

namespace Mesh.Grains.Models;

/// <summary>
/// A model's state as the fold of its events, the same in every region once they have the same events, whatever
/// order they arrived in:
/// <list type="bullet">
/// <item>versions are identified by artifact hash and keep the number their registration event carries (see
/// <see cref="VersionNumbering"/>), so registrations commute and a number never changes meaning; the same bytes
/// registered twice are one version, reachable by both numbers;</item>
/// <item>traffic (default version and split), shadow and policy are registers: the write with the later stamp
/// wins;</item>
/// <item>retirement is a set that only grows; rollback's history is every full-traffic assignment ordered by
/// stamp, minus those a rollback undid.</item>
/// </list>
/// <see cref="Apply"/> never refuses: the model grain checks a change against the state before it raises the event.
/// Snapshots store this class as JSON.
/// </summary>
public sealed class ModelState
{
    /// <summary>Every registration event, in stamp order (one artifact registered in two regions appears twice).</summary>
    public List<RegisteredVersion> Registered { get; set; } = [];
    public TrafficRegister? Traffic { get; set; }
    public string? ShadowArtifact { get; set; }
    public EventStamp? ShadowStamp { get; set; }
    public ServingPolicy? Policy { get; set; }
    public EventStamp? PolicyStamp { get; set; }
    public DriftBaseline? DriftBaseline { get; set; }
    public EventStamp? DriftBaselineStamp { get; set; }
    public string[]? Regions { get; set; }
    public EventStamp? RegionsStamp { get; set; }
    public bool Unloaded { get; set; }
    public EventStamp? ServingStamp { get; set; }
    public HashSet<string> RetiredArtifacts { get; set; } = new(StringComparer.Ordinal);
    public List<StampedArtifact> FullTraffic { get; set; } = [];
    public List<StampedArtifact> RolledBack { get; set; } = [];

    public void Apply(ModelEvent e, string model, EventStamp stamp)
    {
        switch (e)
        {
            case ModelVersionRegistered r:
                // One registration per artifact and number, dated by its earliest copy, whatever order they came in.
                if (Registered.FindIndex(v => v.Event.ArtifactSha256 == r.ArtifactSha256 && v.Event.Version == r.Version) is var at and >= 0)
                {
                    if (stamp.CompareTo(Registered[at].Stamp) < 0) Registered[at] = new RegisteredVersion(r, stamp);
                }
                else Registered.Add(new RegisteredVersion(r, stamp));
                Registered.Sort((a, b) => a.Stamp.CompareTo(b.Stamp) is var c and not 0 ? c : string.CompareOrdinal(a.Event.ArtifactSha256, b.Event.ArtifactSha256));
                _numbering = null;
                if (r.MakeDefault) TakeAllTraffic(r.ArtifactSha256, stamp);
                break;
            case ModelVersionPromoted p when ArtifactOf(p.Artifact, p.Version) is { } promoted:
                TakeAllTraffic(promoted, stamp);
                break;
            case ModelTrafficSplitSet s:
                var weights = s.Weights.Select((w, i) => new ArtifactWeight(ArtifactOf(s.Artifacts?[i], w.Version) ?? "", w.Percent)).Where(w => w.Artifact != "").ToList();
                if (weights.Count == 1) TakeAllTraffic(weights[0].Artifact, stamp);
                else if (stamp.Beats(Traffic?.Stamp))
                    Traffic = new TrafficRegister(ArtifactOf(s.StableArtifact, null) ?? DefaultArtifact ?? weights[0].Artifact, weights, stamp);
                break;
            case ModelShadowSet s when stamp.Beats(ShadowStamp):
                (ShadowArtifact, ShadowStamp) = (s.Version is null ? null : ArtifactOf(s.Artifact, s.Version), stamp);
                break;
            case ModelRolledBack r:
                if (ArtifactOf(r.FromArtifact, r.FromVersion) is { } from) RolledBack.Add(new StampedArtifact(from, stamp));
                if (ArtifactOf(r.ToArtifact, r.ToVersion) is { } to) TakeAllTraffic(to, stamp);
                break;
            case ModelVersionRetired r when ArtifactOf(r.Artifact, r.Version) is { } retired:
                RetiredArtifacts.Add(retired);
                break;
            case ModelResidencySet r when stamp.Beats(RegionsStamp):
                (Regions, RegionsStamp) = (r.Regions, stamp);
                break;
            case ModelPolicyChanged p when stamp.Beats(PolicyStamp):
                (Policy, PolicyStamp) = (p.Policy, stamp);
                break;
            case ModelDriftBaselineSet d when stamp.Beats(DriftBaselineStamp):
                (DriftBaseline, DriftBaselineStamp) = (d.Baseline, stamp);
                break;
            case ModelServingSet s when stamp.Beats(ServingStamp):
                (Unloaded, ServingStamp) = (!s.Serving, stamp);
                break;
        }
    }

    /// <summary>
    /// The register a write goes to and whether it loses to what the register holds: a write from another region
    /// that arrives older than the current value (the conflict last-writer-wins settles against it). Null: the
    /// event is no register write.
    /// </summary>
    public (string Register, bool Loses)? RegisterWrite(ModelEvent e, EventStamp stamp) => e switch
    {
        ModelVersionPromoted or ModelTrafficSplitSet or ModelRolledBack => ("traffic", !stamp.Beats(Traffic?.Stamp)),
        ModelVersionRegistered { MakeDefault: true } => ("traffic", !stamp.Beats(Traffic?.Stamp)),
        ModelShadowSet => ("shadow", !stamp.Beats(ShadowStamp)),
        ModelPolicyChanged => ("policy", !stamp.Beats(PolicyStamp)),
        ModelDriftBaselineSet => ("drift-baseline", !stamp.Beats(DriftBaselineStamp)),
        ModelResidencySet => ("residency", !stamp.Beats(RegionsStamp)),
        ModelServingSet => ("serving", !stamp.Beats(ServingStamp)),
        _ => null,
    };

    private void TakeAllTraffic(string artifact, EventStamp stamp)
    {
        FullTraffic.Add(new StampedArtifact(artifact, stamp));
        if (stamp.Beats(Traffic?.Stamp)) Traffic = new TrafficRegister(artifact, null, stamp);
    }

    // Events from before artifacts were named in them carry only numbers.
    private string? ArtifactOf(string? artifact, int? version) => artifact ?? (version is int v ? ArtifactOfNumber(v) : null);

    /// <summary>The artifact's number: that of its first registration; 0 for an unknown artifact.</summary>
    public int NumberOf(string artifact) => Numbering.Primary.GetValueOrDefault(artifact);

    /// <summary>The artifact a number names, by any of its registrations; null for a number never given.</summary>
    public string? ArtifactOfNumber(int version) => Numbering.ByNumber.GetValueOrDefault(version);

    /// <summary>The number the home region gives next.</summary>
    public int NextNumber => Numbering.ByNumber.Keys.Where(n => !VersionNumbering.IsProvisional(n)).DefaultIfEmpty(0).Max() + 1;

    /// <summary>The number <paramref name="region"/> gives next while the home cannot be reached.</summary>
    public int NextProvisional(string region) =>
        VersionNumbering.Provisional(region, Numbering.ByNumber.Keys.Count(n => VersionNumbering.IsProvisionalOf(region, n)) + 1);

    private (Dictionary<int, string> ByNumber, Dictionary<string, int> Primary)? _numbering;

    // Each registration keeps the number it carries. Streams written before numbers were allocated this way can
    // hold two artifacts under one number (a partition): the later registration then takes the next free number,
    // as those streams were always read.
    private (Dictionary<int, string> ByNumber, Dictionary<string, int> Primary) Numbering => _numbering ??= Number(Registered);

    private static (Dictionary<int, string>, Dictionary<string, int>) Number(List<RegisteredVersion> registered)
    {
        var byNumber = new Dictionary<int, string>();
        var primary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var v in registered)
        {
            var number = v.Event.Version;
            if (number < 1 || byNumber.TryGetValue(number, out var holder) && holder != v.Event.ArtifactSha256)
                number = byNumber.Keys.Where(n => !VersionNumbering.IsProvisional(n)).DefaultIfEmpty(0).Max() + 1;
            byNumber.TryAdd(number, v.Event.ArtifactSha256);
            primary.TryAdd(v.Event.ArtifactSha256, number);
        }
        return (byNumber, primary);
    }

    /// <summary>The version predicts that name none go to when there is no split: the last full-traffic write, else the first registered.</summary>
    public string? DefaultArtifact => Traffic?.DefaultArtifact ?? (Registered.Count > 0 ? Registered[0].Event.ArtifactSha256 : null);

    public bool HasVersions => Registered.Count > 0;

    /// <summary>Every version by number (an artifact registered under two numbers is listed under both), in number order.</summary>
    public List<ModelVersionInfo> Versions(string model) => Numbering.ByNumber.OrderBy(n => n.Key).Select(n =>
    {
        var r = Registered.First(v => v.Event.ArtifactSha256 == n.Value).Event;
        var lineage = r.ParentArtifact is { } parent && NumberOf(parent) is > 0 and var number ? r.Lineage with { ParentVersion = number } : r.Lineage;
        return new ModelVersionInfo(model, n.Key, r.ArtifactSha256, r.ArtifactBytes, r.Signature, r.RegisteredAt, lineage, RetiredArtifacts.Contains(r.ArtifactSha256));
    }).ToList();

    public TrafficWeight[]? TrafficWeights =>
        Traffic?.Split is { Count: > 1 } split ? split.Select(w => new TrafficWeight(NumberOf(w.Artifact), w.Percent)).OrderBy(w => w.Version).ToArray() : null;

    /// <summary>
    /// Where a rollback goes from and to: from a split, back to its stable version; otherwise to the version that
    /// had all traffic before the current one (not retired, not undone by an earlier rollback). Null: nowhere.
    /// </summary>
    public (string From, string To)? RollbackTarget()
    {
        if (DefaultArtifact is not { } current) return null;
        if (Traffic?.Split is { Count: > 1 } split)
            return (split.Where(w => w.Artifact != Traffic.DefaultArtifact).MaxBy(w => w.Percent)!.Artifact, Traffic.DefaultArtifact);
        var history = FullTraffic
            .Where(e => !RolledBack.Any(r => r.Artifact == e.Artifact && e.Stamp.CompareTo(r.Stamp) < 0))
            .OrderBy(e => e.Stamp.Hlc).ThenBy(e => e.Stamp.Region, StringComparer.Ordinal)
            .Select(e => e.Artifact).ToList();
        var to = history.AsEnumerable().Reverse().FirstOrDefault(a => a != current && !RetiredArtifacts.Contains(a));
        return to is null ? null : (current, to);
    }

    public ModelInfo ToInfo(string model) =>
        new(model, DefaultArtifact is { } d ? NumberOf(d) : 0, Versions(model).ToArray(), Policy, TrafficWeights,
            ShadowArtifact is { } s && !RetiredArtifacts.Contains(s) ? NumberOf(s) : null, Regions, Unloaded);
}

public sealed record RegisteredVersion(ModelVersionRegistered Event, EventStamp Stamp);

public sealed record ArtifactWeight(string Artifact, int Percent);

public sealed record StampedArtifact(string Artifact, EventStamp Stamp);

/// <summary>The traffic register: the version with all traffic (or the stable one under a split), the split if any, and the stamp of the write.</summary>
public sealed record TrafficRegister(string DefaultArtifact, List<ArtifactWeight>? Split, EventStamp Stamp);
