namespace Mesh.Abstractions.Models;

/// <summary>
/// One registered version of a model. Versions are immutable: the artifact is addressed by its SHA-256,
/// so every silo that loads version N loads the same bytes.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ModelVersionInfo(
    string Model,
    int Version,
    string ArtifactSha256,
    long ArtifactBytes,
    ModelSignature Signature,
    DateTimeOffset RegisteredAt);

/// <summary>A model: its versions, which one answers when a predict names none, and how it is served.</summary>
[GenerateSerializer, Immutable]
public sealed record ModelInfo(string Name, int DefaultVersion, ModelVersionInfo[] Versions, ServingPolicy? Policy = null)
{
    public ServingPolicy ServingPolicy => Policy ?? ServingPolicy.Default;

    public ModelVersionInfo? FindVersion(int version) => Array.Find(Versions, v => v.Version == version);
}
