using System.Text.Json.Serialization;

namespace Mesh.Edge.Predicting;

/// <summary>The models installed over the air, kept across restarts (models/current.json).</summary>
public sealed record InstalledModel(int Version, string Path);

/// <summary>models/current.json, written by generated code so the trimmed bridge needs no reflection.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(Dictionary<string, InstalledModel>))]
internal sealed partial class InstalledModelJson : JsonSerializerContext;
