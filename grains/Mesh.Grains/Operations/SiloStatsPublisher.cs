using Mesh.Abstractions.Grains;
using Mesh.Grains.Hosting;
using Mesh.Grains.Inference;
using Mesh.Grains.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Grains.Operations;

/// <summary>
/// Publishes this silo's loaded sessions and traffic to its <see cref="ISiloStatsGrain"/> every second, so a
/// console in any silo can show every silo's figures without reaching into the others' memory.
/// </summary>
public sealed class SiloStatsPublisher(
    IGrainFactory grains, ILocalSiloDetails silo, SessionPool sessions, TrafficStats traffic, TimeProvider clock,
    IHostApplicationLifetime lifetime, ILogger<SiloStatsPublisher> logger) : BackgroundService
{
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await lifetime.WaitForStartAsync(stoppingToken)) return;
        var address = silo.SiloAddress.ToParsableString();
        using var timer = new PeriodicTimer(Every, clock);
        do
        {
            try
            {
                var now = clock.GetUtcNow();
                var loaded = sessions.Loaded().Select(s => new LoadedSession(s.Model, s.Version)).ToArray();
                await grains.GetGrain<ISiloStatsGrain>(address).PublishAsync(new SiloStats(address, now, loaded, traffic.Snapshot(now)));
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug(e, "Could not publish this silo's figures; trying again");
            }
        } while (await timer.TickAsync(stoppingToken));
    }
}
