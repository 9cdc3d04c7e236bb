using Mesh.Abstractions.Models;

namespace Mesh.Abstractions.Events;

/// <summary>
/// A change in a model's life: the model grain appends these to the stream <c>model/NAME</c>, and its state, the
/// routing tables, the catalog and the audit log are all folds of them. Stored as JSON under the type names of
/// <see cref="EventCodec"/>.
/// </summary>
public abstract record ModelEvent;

/// <summary>A new version: its artifact, signature and where it came from.</summary>
public sealed record ModelVersionRegistered(
    int Version,
    string ArtifactSha256,
    long ArtifactBytes,
    ModelSignature Signature,
    DateTimeOffset RegisteredAt,
    ModelLineage Lineage,
    bool MakeDefault) : ModelEvent;

/// <summary>The version now takes all traffic (and answers predicts that name no version).</summary>
public sealed record ModelVersionPromoted(int Version) : ModelEvent;

/// <summary>Traffic is split across versions by weight (percent, summing to 100): a canary.</summary>
public sealed record ModelTrafficSplitSet(TrafficWeight[] Weights) : ModelEvent;

/// <summary>A version that receives a copy of every predict (its answer is compared, then dropped), or none.</summary>
public sealed record ModelShadowSet(int? Version) : ModelEvent;

/// <summary>All traffic went back from <paramref name="FromVersion"/> to the last version that had all of it.</summary>
public sealed record ModelRolledBack(int FromVersion, int ToVersion) : ModelEvent;

/// <summary>The version no longer serves; predicts naming it are refused.</summary>
public sealed record ModelVersionRetired(int Version) : ModelEvent;

/// <summary>How the model is served changed.</summary>
public sealed record ModelPolicyChanged(ServingPolicy Policy) : ModelEvent;
