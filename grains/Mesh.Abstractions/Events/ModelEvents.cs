using Mesh.Abstractions.Models;

namespace Mesh.Abstractions.Events;

/// <summary>
/// A change in a model's life: the model grain appends these to the stream <c>model/NAME</c>, and its state, the
/// routing tables, the catalog and the audit log are all folds of them. Stored as JSON under the type names of
/// <see cref="EventCodec"/>.
/// Events name versions by artifact SHA-256 (the <c>Artifact</c> fields) as well as by number: the hash is a
/// version's identity in every region, while numbers are given by registration order (stamp, region), which two
/// regions registering at once only agree on after they have heard of each other. The numbers are what the writer
/// saw, kept for people reading the log.
/// </summary>
public abstract record ModelEvent;

/// <summary>A new version: its artifact, signature and where it came from (<paramref name="ParentArtifact"/>: the parent's hash).</summary>
public sealed record ModelVersionRegistered(
    int Version,
    string ArtifactSha256,
    long ArtifactBytes,
    ModelSignature Signature,
    DateTimeOffset RegisteredAt,
    ModelLineage Lineage,
    bool MakeDefault,
    string? ParentArtifact = null) : ModelEvent;

/// <summary>The version now takes all traffic (and answers predicts that name no version).</summary>
public sealed record ModelVersionPromoted(int Version, string? Artifact = null) : ModelEvent;

/// <summary>
/// Traffic is split across versions by weight (percent, summing to 100): a canary. <paramref name="Artifacts"/>
/// matches <paramref name="Weights"/> one to one; <paramref name="StableArtifact"/> is the version that had all
/// traffic when the split was set, which a rollback returns to.
/// </summary>
public sealed record ModelTrafficSplitSet(TrafficWeight[] Weights, string[]? Artifacts = null, string? StableArtifact = null) : ModelEvent;

/// <summary>A version that receives a copy of every predict (its answer is compared, then dropped), or none.</summary>
public sealed record ModelShadowSet(int? Version, string? Artifact = null) : ModelEvent;

/// <summary>All traffic went back from <paramref name="FromVersion"/> to the last version that had all of it.</summary>
public sealed record ModelRolledBack(int FromVersion, int ToVersion, string? FromArtifact = null, string? ToArtifact = null) : ModelEvent;

/// <summary>The version no longer serves; predicts naming it are refused.</summary>
public sealed record ModelVersionRetired(int Version, string? Artifact = null) : ModelEvent;

/// <summary>The regions the model may live in (null: any). Its events and artifacts are not shipped elsewhere.</summary>
public sealed record ModelResidencySet(string[]? Regions) : ModelEvent;

/// <summary>How the model is served changed.</summary>
public sealed record ModelPolicyChanged(ServingPolicy Policy) : ModelEvent;

/// <summary>The reference distribution of the model's inputs, which devices' inputs are compared with, was set.</summary>
public sealed record ModelDriftBaselineSet(DriftBaseline Baseline) : ModelEvent;

/// <summary>
/// The model was unloaded (<paramref name="Serving"/> false: every version refuses predicts and reads as not ready)
/// or loaded again, Triton's repository unload and load. A register: the later write wins across regions.
/// </summary>
public sealed record ModelServingSet(bool Serving) : ModelEvent;

/// <summary>When an event happened (hybrid logical clock) and where: what last-writer-wins compares.</summary>
public readonly record struct EventStamp(long Hlc, string Region)
{
    /// <summary>
    /// True when this stamp beats <paramref name="current"/>: a later clock, or the same clock and a region that
    /// sorts after (or the same region: then the event folded later is the later one).
    /// </summary>
    public bool Beats(EventStamp? current) =>
        current is not { } c || Hlc > c.Hlc || (Hlc == c.Hlc && string.CompareOrdinal(Region, c.Region) >= 0);

    public static EventStamp Of(EventEnvelope envelope) => new(envelope.Hlc, envelope.Region);

    public int CompareTo(EventStamp other) => Hlc != other.Hlc ? Hlc.CompareTo(other.Hlc) : string.CompareOrdinal(Region, other.Region);
}
