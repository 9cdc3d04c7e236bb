using Mesh.Abstractions.Grains;
using Mesh.Grains.Configuration;
using Mesh.Grains.Events;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Configuration;

namespace Mesh.Grains.Replication;

/// <summary>What <c>mesh regions</c> shows: this region and the state of each link to a peer.</summary>
[StatelessWorker]
public sealed class RegionGrain(IEventStore store, IOptions<RegionOptions> regions, IOptions<ClusterOptions> cluster) : Grain, IRegionGrain
{
    public async Task<RegionStatus> GetStatusAsync()
    {
        var links = await Task.WhenAll(regions.Value.Peers.Select(p => GrainFactory.GetGrain<IReplicatorGrain>(p.Name).GetStatusAsync()));
        var failovers = await GrainFactory.GetGrain<IFailoverTallyGrain>(0).GetAsync();
        return new RegionStatus(cluster.Value.ClusterId, await store.GetFeedHeadAsync(), links, failovers);
    }

    // Most probes carry nothing and end here, in the silo the client is connected to.
    public Task ProbeAsync(FailoverCount[] failoversTaken) =>
        failoversTaken.Length == 0 ? Task.CompletedTask : GrainFactory.GetGrain<IFailoverTallyGrain>(0).AddAsync(failoversTaken);
}
