using System.Collections.Concurrent;
using System.Net;
using Mesh.Grains.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Mesh.Grains.Replication;

/// <summary>
/// Orleans clients of the peer regions, one per peer, each in a host of its own: a silo's own IClusterClient
/// must stay its own cluster's (a grain reference does not know its cluster). A peer that cannot be reached fails
/// the call at once rather than after the default 3 minutes of retries, and its client is built anew on the next
/// call, which also recovers the broken state seen after a peer's slow restart (docs/measurements.md).
/// </summary>
public sealed class PeerConnections(IOptions<RegionOptions> regions, IOptions<ClusterOptions> cluster, IEnumerable<PeerClientSetup> setups, ILogger<PeerConnections> logger) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<IHost>>> _hosts = new(StringComparer.Ordinal);

    /// <summary>A started client of <paramref name="peer"/>; throws when the peer cannot be reached now.</summary>
    public async Task<IClusterClient> GetAsync(string peer)
    {
        var lazy = _hosts.GetOrAdd(peer, p => new Lazy<Task<IHost>>(() => ConnectAsync(p)));
        try
        {
            return (await lazy.Value).Services.GetRequiredService<IClusterClient>();
        }
        catch
        {
            _hosts.TryRemove(new KeyValuePair<string, Lazy<Task<IHost>>>(peer, lazy));
            throw;
        }
    }

    /// <summary>Drops a peer's client after a failed call, so the next call connects afresh.</summary>
    public async Task ResetAsync(string peer)
    {
        if (!_hosts.TryRemove(peer, out var lazy) || !lazy.IsValueCreated) return;
        try
        {
            var host = await lazy.Value;
            await host.StopAsync(TimeSpan.FromSeconds(1));
            host.Dispose();
        }
        catch (Exception e)
        {
            logger.LogDebug(e, "Client of peer region {Peer} did not stop cleanly", peer);
        }
    }

    private async Task<IHost> ConnectAsync(string peer)
    {
        var settings = regions.Value.Peers.Find(p => p.Name == peer) ?? throw new InvalidOperationException($"region '{peer}' is not a configured peer");
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(IPEndPoint.Parse(settings.Gateway));
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (peer, cluster.Value.ServiceId));
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = regions.Value.PeerCallTimeout);
            client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
            foreach (var setup in setups) setup.Configure(client);
        });
        var host = builder.Build();
        // Bounded: a connection attempt that neither succeeds nor fails must not hold a link or a lookup for good.
        using var timeout = new CancellationTokenSource(regions.Value.PeerCallTimeout);
        try
        {
            await host.StartAsync(timeout.Token).WaitAsync(timeout.Token);
        }
        catch (Exception e)
        {
            _ = Task.Run(host.Dispose);
            if (e is OperationCanceledException) throw new TimeoutException($"peer region '{peer}' at {settings.Gateway} did not accept a connection within {regions.Value.PeerCallTimeout}");
            throw;
        }
        logger.LogInformation("Connected to peer region {Peer} at {Gateway}", peer, settings.Gateway);
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var peer in _hosts.Keys.ToList()) await ResetAsync(peer);
    }
}

/// <summary>What the host adds to every peer region's client: the silo's TLS certificate and its key for the peers.</summary>
public sealed class PeerClientSetup(Action<IClientBuilder> configure)
{
    public void Configure(IClientBuilder client) => configure(client);
}
