using Mesh.Abstractions.Events;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Microsoft.Extensions.Options;
using Orleans.Streams;

namespace Mesh.Grains.Events;

/// <summary>
/// How the silo writes events: append to the store (the truth), then announce them on the feed stream so that
/// projections and subscribers hear of them at once. A lost announcement costs only latency: readers catch up
/// from the store by position.
/// </summary>
public sealed class EventJournal(IEventStore store, IClusterClient client, IOptions<ClusterOptions> cluster, IOptions<Configuration.RegionOptions> regions, TimeProvider clock, HybridClock hlc, ILogger<EventJournal> logger)
{
    /// <summary>This silo's region: its cluster id.</summary>
    public string Region => cluster.Value.ClusterId;

    /// <summary>
    /// Appends events (objects of the types <see cref="EventCodec"/> knows) caused by the current actor, stamped by
    /// this silo's hybrid clock, and after <paramref name="after"/> (the stream's newest stamp), so that a grain
    /// that moved to a silo whose clock lags still stamps its writes after its earlier ones.
    /// </summary>
    public Task<IReadOnlyList<EventEnvelope>> AppendAsync(string stream, long expectedVersion, IEnumerable<object> events, long after = 0)
    {
        hlc.Observe(after);
        var now = clock.GetUtcNow();
        // Only a recorded span is worth pointing at; a propagation-only context would name a span no one exported.
        var traceParent = System.Diagnostics.Activity.Current is { Recorded: true } span ? span.Id : null;
        return AppendAsync(stream, expectedVersion, events.Select(e => EventCodec.Encode(e, MeshActor.Current, Region, now) with { Hlc = hlc.Next(), TraceParent = traceParent }).ToList());
    }

    public async Task<IReadOnlyList<EventEnvelope>> AppendAsync(string stream, long expectedVersion, IReadOnlyList<EventData> events)
    {
        var stored = await store.AppendAsync(stream, expectedVersion, events);
        // This region's own events of a replicated stream wake its links: lag is the work, not a timer.
        if (regions.Value.Peers.Count > 0 && Replication.ReplicatorGrain.IsReplicated(stream) && events.Any(e => e.Region == Region))
        {
            foreach (var peer in regions.Value.Peers) _ = client.GetGrain<Mesh.Abstractions.Grains.IReplicatorGrain>(peer.Name).WakeAsync();
        }
        try
        {
            var feed = client.GetStreamProvider(EventFeed.StreamProvider).GetStream<EventEnvelope>(StreamId.Create(EventFeed.Namespace, EventFeed.Key));
            foreach (var envelope in stored) await feed.OnNextAsync(envelope);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Events {From}-{To} of {Stream} are stored but were not announced; readers will find them in the store",
                stored[0].Position, stored[^1].Position, stream);
        }
        return stored;
    }
}
