namespace Mesh.Abstractions.Models;

/// <summary>
/// One registered version of a model. Versions are immutable: the artifact is addressed by its SHA-256,
/// so every silo that loads version N loads the same bytes. <see cref="Retired"/> versions refuse predicts.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ModelVersionInfo(
    string Model,
    int Version,
    string ArtifactSha256,
    long ArtifactBytes,
    ModelSignature Signature,
    DateTimeOffset RegisteredAt,
    ModelLineage? Lineage = null,
    bool Retired = false);

/// <summary>
/// Where a version came from: the version it was derived from, a hash of the data it was trained on, the
/// optimization applied to make it (e.g. "int8-dynamic"), and free notes. The artifact's SHA-256 is on the version.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ModelLineage(int? ParentVersion = null, string? TrainingDataHash = null, string? Optimization = null, string? Notes = null)
{
    public static readonly ModelLineage None = new();
}

/// <summary>A version's share of a model's predicts, in percent.</summary>
[GenerateSerializer, Immutable]
public sealed record TrafficWeight(int Version, int Percent);

/// <summary>
/// A model: its versions, which one answers when a predict names none, how traffic is split across versions
/// (null: all to the default version), the shadow version, how it is served, and the regions it may live in
/// (null: any).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ModelInfo(
    string Name,
    int DefaultVersion,
    ModelVersionInfo[] Versions,
    ServingPolicy? Policy = null,
    TrafficWeight[]? Traffic = null,
    int? ShadowVersion = null,
    string[]? Regions = null,
    // Unloaded through the repository API: refuses predicts until loaded again.
    bool Unloaded = false)
{
    public ServingPolicy ServingPolicy => Policy ?? ServingPolicy.Default;

    public ModelVersionInfo? FindVersion(int version) => Array.Find(Versions, v => v.Version == version);

    /// <summary>True when predicts that name no version go to more than one version.</summary>
    public bool IsSplit => Traffic is { Length: > 1 };

    /// <summary>
    /// The version a predict that names none goes to: by the traffic weights, at random or, with a
    /// <paramref name="routingKey"/>, always the same version for the same key (while the split stands).
    /// </summary>
    public int RouteVersion(string? routingKey)
    {
        if (Traffic is not { Length: > 0 } traffic) return DefaultVersion;
        var point = routingKey is null ? Random.Shared.Next(100) : (int)(StableHash(routingKey) % 100);
        foreach (var weight in traffic)
        {
            if (point < weight.Percent) return weight.Version;
            point -= weight.Percent;
        }
        return traffic[^1].Version;
    }

    // FNV-1a: the same on every silo and in every process, unlike string.GetHashCode.
    private static uint StableHash(string key)
    {
        var hash = 2166136261u;
        foreach (var c in key)
        {
            hash ^= c;
            hash *= 16777619u;
        }
        return hash;
    }
}
