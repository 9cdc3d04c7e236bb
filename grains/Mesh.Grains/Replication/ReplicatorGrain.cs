using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Grains.Configuration;
using Mesh.Grains.Events;
using Mesh.Grains.Storage;
using Mesh.Grains.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Mesh.Grains.Replication;

/// <summary>
/// Ships this region's own events of replicated streams (models) to one peer, in feed order. It reads the feed
/// from its saved position, sends the artifacts new versions name and then the events, and saves the position
/// only after the peer took them: a crash or a dead peer means the same events go again, and the peer applies
/// each event id once. Events that came from other regions are not forwarded: every region ships its own to all.
/// </summary>
public sealed class ReplicatorGrain(
    IEventStore store,
    IArtifactStore artifacts,
    PeerConnections peers,
    MeshMetrics metrics,
    IOptions<RegionOptions> regions,
    IOptions<ClusterOptions> cluster,
    ILogger<ReplicatorGrain> logger) : Grain, IReplicatorGrain
{
    private long _shipped;
    private long _head;
    private long _eventsShipped;
    private DateTimeOffset? _lastShippedAt;
    private string? _lastError;
    private IGrainTimer? _timer;
    private bool _paused;

    private string Peer => this.GetPrimaryKeyString();
    private string Checkpoint => "replication/" + Peer;
    private string PausedMark => "replication-paused/" + Peer;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _shipped = await store.GetCheckpointAsync(Checkpoint, cancellationToken);
        _paused = await store.GetCheckpointAsync(PausedMark, cancellationToken) == 1;
        await base.OnActivateAsync(cancellationToken);
    }

    public Task StartAsync()
    {
        // The interval is the fallback: appends wake the link at once (WakeAsync), and the timer catches what a
        // wake could not reach (an append in another silo of this region, a peer that was down).
        _timer ??= this.RegisterGrainTimer(ShipSoonAsync, new GrainTimerCreationOptions(TimeSpan.Zero, regions.Value.ReplicationInterval) { KeepAlive = true });
        return Task.CompletedTask;
    }

    public Task WakeAsync()
    {
        StartAsync();
        if (_shipping) _again = true;
        else _ = ShipSoonAsync();
        return Task.CompletedTask;
    }

    private bool _shipping;
    private bool _again;

    // One shipment at a time; wakes that came during it make one more, which takes everything appended meanwhile.
    private async Task ShipSoonAsync()
    {
        if (_shipping)
        {
            _again = true;
            return;
        }
        _shipping = true;
        try
        {
            do
            {
                _again = false;
                await ShipAsync();
            } while (_again && !_paused && _lastError is null);
        }
        finally
        {
            _shipping = false;
        }
    }

    public async Task<ReplicationStatus> GetStatusAsync()
    {
        _head = await store.GetFeedHeadAsync();
        return new ReplicationStatus(Peer, _shipped, _head, _lastShippedAt, _lastError, _eventsShipped, _paused);
    }

    public async Task SetPausedAsync(bool paused)
    {
        if (!regions.Value.Peers.Any(p => p.Name == Peer))
            throw new InvalidRequestException("peer", $"'{Peer}' is not a peer of this region (peers: {string.Join(", ", regions.Value.Peers.Select(p => p.Name))})");
        await store.SaveCheckpointAsync(PausedMark, paused ? 1 : 0);
        _paused = paused;
        logger.LogInformation("Replication to region {Peer} {State}", Peer, paused ? "paused" : "resumed");
    }

    // Models (with their policies), usage (each region's counts, summed everywhere) and device aggregates
    // (fleet) replicate; devices' own events stay home.
    internal static bool IsReplicated(string stream) =>
        stream.StartsWith(EventStreams.ModelPrefix, StringComparison.Ordinal) || stream.StartsWith(EventStreams.UsagePrefix, StringComparison.Ordinal)
        || stream.StartsWith(EventStreams.FleetPrefix, StringComparison.Ordinal);

    private async Task ShipAsync()
    {
        try
        {
            await ShipPagesAsync();
        }
        finally
        {
            _head = await store.GetFeedHeadAsync();
            metrics.ReplicationState(Peer, Math.Max(0, _head - _shipped), _lastError is null && !_paused);
        }
    }

    private async Task ShipPagesAsync()
    {
        var local = cluster.Value.ClusterId;
        while (!_paused)
        {
            var page = await store.ReadFeedAsync(_shipped + 1, regions.Value.BatchSize);
            if (page.Count == 0) return;
            var ours = page.Where(e => e.Region == local && IsReplicated(e.Stream)).ToList();
            if (ours.Count > 0)
            {
                try
                {
                    // Residency: a model pinned to regions without this peer sends it nothing, not even its name.
                    var allowed = new Dictionary<string, bool>(StringComparer.Ordinal);
                    foreach (var stream in ours.Select(e => e.Stream).Distinct().Where(s => s.StartsWith(EventStreams.ModelPrefix, StringComparison.Ordinal)))
                    {
                        // A pin shipped in this page decides by itself: the grain, asked while its deploy is still
                        // folding the pin (the append woke this link at once), would not know it yet.
                        var pinInPage = ours.LastOrDefault(e => e.Stream == stream && e.Type == EventCodec.TypeName(typeof(ModelResidencySet)));
                        var regionsOfModel = pinInPage is not null
                            ? ((ModelResidencySet)EventCodec.Decode(pinInPage)).Regions
                            : await GrainFactory.GetGrain<IModelReplicaGrain>(stream[EventStreams.ModelPrefix.Length..]).GetLocalResidencyAsync();
                        allowed[stream] = regionsOfModel is null || regionsOfModel.Contains(Peer, StringComparer.Ordinal);
                    }
                    ours.RemoveAll(e => allowed.TryGetValue(e.Stream, out var ok) && !ok);
                    var inbox = (await peers.GetAsync(Peer)).GetGrain<IReplicationInboxGrain>(0);
                    foreach (var registered in ours.Where(e => e.Type == EventCodec.TypeName(typeof(ModelVersionRegistered))))
                    {
                        var sha = ((ModelVersionRegistered)EventCodec.Decode(registered)).ArtifactSha256;
                        if (!await inbox.HasArtifactAsync(sha))
                            await inbox.PutArtifactAsync(sha, await File.ReadAllBytesAsync(await artifacts.GetLocalFileAsync(sha)));
                    }
                    if (ours.Count > 0) await inbox.ApplyAsync(local, ours.ToArray());
                }
                catch (Exception e)
                {
                    if (_lastError is null) logger.LogWarning(e, "Replication to region {Peer} failed; it will be tried again", Peer);
                    _lastError = $"{e.GetType().Name}: {e.Message}";
                    await peers.ResetAsync(Peer);
                    return;
                }
                _eventsShipped += ours.Count;
                _lastShippedAt = DateTimeOffset.UtcNow;
                metrics.Replicated(Peer, ours.Count);
            }
            _shipped = page[^1].Position;
            _lastError = null;
            await store.SaveCheckpointAsync(Checkpoint, _shipped);
            if (page.Count < regions.Value.BatchSize) return;
        }
    }
}
