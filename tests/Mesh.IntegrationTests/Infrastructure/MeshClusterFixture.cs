using Mesh.Client;
using Mesh.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;

namespace Mesh.IntegrationTests.Infrastructure;

/// <summary>
/// An in-process Orleans cluster composed exactly as the silo host composes it (AddMeshServing), with its own
/// data directory, and a <see cref="MeshClient"/> over the cluster's client.
/// </summary>
public abstract class MeshClusterFixture(short silos, IReadOnlyDictionary<string, string?>? settings = null) : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public MeshClient Mesh { get; private set; } = null!;
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "mesh-tests", Guid.NewGuid().ToString("N"));

    public async Task InitializeAsync()
    {
        var configuration = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>())
        {
            ["Mesh:Storage:DataDirectory"] = DataDirectory,
        };
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSiloHost((_, host) => host.Configuration.AddInMemoryCollection(configuration));
        builder.ConfigureSilo((_, silo) => silo.AddMeshEmbeddedStorage().AddMeshServing());
        builder.ConfigureClient(client => client.AddActivityPropagation());
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Mesh = new MeshClient(Cluster.Client);
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Two silos with the default settings: the shape of a real cluster.</summary>
public sealed class TwoSiloCluster() : MeshClusterFixture(2);

[CollectionDefinition(Name)]
public sealed class TwoSiloClusterCollection : ICollectionFixture<TwoSiloCluster>
{
    public const string Name = "two-silo cluster";
}

/// <summary>
/// Two silos whose routing tables keep nothing (VersionCacheTtl 0): a lifecycle change shows on the next predict,
/// so lifecycle tests wait for no cache. The cache's own timing is unit-tested on a fake clock.
/// </summary>
public sealed class UncachedRoutingCluster() : MeshClusterFixture(2, new Dictionary<string, string?>
{
    ["Mesh:Inference:VersionCacheTtl"] = "00:00:00",
});

[CollectionDefinition(Name)]
public sealed class UncachedRoutingClusterCollection : ICollectionFixture<UncachedRoutingCluster>
{
    public const string Name = "uncached-routing cluster";
}

/// <summary>One silo whose sessions go idle after a second: for the scale-to-zero life cycle.</summary>
public sealed class ShortIdleCluster() : MeshClusterFixture(1, new Dictionary<string, string?>
{
    ["Mesh:Inference:IdleTimeout"] = "00:00:01",
    ["Mesh:Inference:IdleCheckInterval"] = "00:00:00.100",
    ["Mesh:Inference:WarmPolicyRefreshInterval"] = "00:00:00.200",
});

[CollectionDefinition(Name)]
public sealed class ShortIdleClusterCollection : ICollectionFixture<ShortIdleCluster>
{
    public const string Name = "short-idle cluster";
}

/// <summary>One silo that holds at most two sessions: for eviction under the cap.</summary>
public sealed class CappedCluster() : MeshClusterFixture(1, new Dictionary<string, string?>
{
    ["Mesh:Inference:MaxLoadedSessions"] = "2",
});
