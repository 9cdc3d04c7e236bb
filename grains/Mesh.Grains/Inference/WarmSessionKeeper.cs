using Mesh.Abstractions.Events;
using Mesh.Grains.Hosting;
using Mesh.Abstractions.Grains;
using Mesh.Grains.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Inference;

/// <summary>
/// Keeps the sessions of models whose policy asks for MinWarm loaded in this silo: at start and every
/// <see cref="InferenceOptions.WarmPolicyRefreshInterval"/> (provisioned concurrency). A model whose MinWarm went
/// back to 0 is left to go idle.
/// </summary>
public sealed class WarmSessionKeeper(
    IGrainFactory grains,
    SessionPool sessions,
    IOptions<InferenceOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<WarmSessionKeeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await lifetime.WaitForStartAsync(stoppingToken)) return;

        using var timer = new PeriodicTimer(options.Value.WarmPolicyRefreshInterval);
        do
        {
            try
            {
                await KeepWarmAsync();
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Could not read the models' warm policies; trying again");
            }
        } while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try { return await timer.WaitForNextTickAsync(stoppingToken); }
        catch (OperationCanceledException) { return false; }
    }

    public async Task KeepWarmAsync()
    {
        foreach (var model in await grains.GetGrain<ICatalogProjectionGrain>(EventFeed.Key).ListAsync())
        {
            var name = model.Name;
            var policy = model.ServingPolicy;
            if (policy.MinWarm > 0)
            {
                if (await sessions.WarmAsync(model.FindVersion(model.DefaultVersion)!, policy))
                    logger.LogInformation("Loaded {Model} version {Version}: its policy keeps {MinWarm} warm", name, model.DefaultVersion, policy.MinWarm);
            }
            else sessions.Unpin(name);
        }
    }
}
