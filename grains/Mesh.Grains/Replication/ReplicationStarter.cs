using Mesh.Abstractions.Grains;
using Mesh.Grains.Configuration;
using Mesh.Grains.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Replication;

/// <summary>
/// Keeps a link running to every configured peer: each silo asks each link to start now and then, so a link
/// lost with its silo is started again within seconds on another. It also has the region's device aggregates
/// recorded (when they changed), for the links to carry.
/// </summary>
public sealed class ReplicationStarter(IGrainFactory grains, IHostApplicationLifetime lifetime, IOptions<RegionOptions> regions, ILogger<ReplicationStarter> logger) : BackgroundService
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // A region alone still keeps its fleet summary: the fleet gauges (and alerts on them) are read from it.
        if (!await lifetime.WaitForStartAsync(stoppingToken)) return;
        using var timer = new PeriodicTimer(Every);
        do
        {
            try
            {
                await grains.GetGrain<IFleetSummaryGrain>(0).RecordAsync();
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Could not record the fleet summary; trying again");
            }
            foreach (var peer in regions.Value.Peers)
            {
                try
                {
                    await grains.GetGrain<IReplicatorGrain>(peer.Name).StartAsync();
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning(e, "Could not start the replication link to {Peer}; trying again", peer.Name);
                }
            }
        } while (await timer.TickAsync(stoppingToken));
    }
}
