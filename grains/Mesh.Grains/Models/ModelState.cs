using Mesh.Abstractions.Models;

namespace Mesh.Grains.Models;

[GenerateSerializer]
public sealed class ModelState
{
    [Id(0)] public List<ModelVersionInfo> Versions { get; set; } = [];
    [Id(1)] public int DefaultVersion { get; set; }
    [Id(2)] public ServingPolicy? Policy { get; set; }
}

[GenerateSerializer]
public sealed class ModelCatalogState
{
    [Id(0)] public SortedSet<string> Models { get; set; } = new(StringComparer.Ordinal);
}
