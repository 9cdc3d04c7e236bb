using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Grains.Events;
using Mesh.Grains.Storage;
using Mesh.Grains.Telemetry;
using Orleans.Concurrency;

namespace Mesh.Grains.Replication;

/// <summary>
/// Hands a peer's events to the grains that own their streams here, stream by stream in order, and stores the
/// artifacts they name. Each stream's owner skips events it already holds, so shipping twice changes nothing.
/// </summary>
[StatelessWorker]
public sealed class ReplicationInboxGrain(IArtifactStore artifacts, IEventStore store, EventJournal journal, HybridClock clock, MeshMetrics metrics) : Grain, IReplicationInboxGrain
{
    public async Task ApplyAsync(string fromRegion, EventEnvelope[] events)
    {
        // Streams are independent (each has its own owner, and order matters only within one), so they are applied
        // side by side: their appends then share the store's commits instead of queueing one stream behind another.
        await Task.WhenAll(events.GroupBy(e => e.Stream).Select(stream => ApplyStreamAsync(stream.Key, stream)));
        var now = DateTimeOffset.UtcNow;
        foreach (var e in events)
        {
            clock.Observe(e.Hlc);
            metrics.ReplicationLag(fromRegion, (now - e.Timestamp).TotalMilliseconds);
        }
    }

    private Task ApplyStreamAsync(string stream, IEnumerable<EventEnvelope> events)
    {
        var data = events.OrderBy(e => e.Position)
            .Select(e => new EventData(e.Id, e.Type, e.SchemaVersion, e.Timestamp, e.Actor, e.Region, e.Data, e.Hlc, e.TraceParent))
            .ToArray();
        if (stream.StartsWith(EventStreams.ModelPrefix, StringComparison.Ordinal))
            return GrainFactory.GetGrain<IModelReplicaGrain>(stream[EventStreams.ModelPrefix.Length..]).ApplyReplicatedAsync(data);
        if (stream.StartsWith(EventStreams.UsagePrefix, StringComparison.Ordinal) || stream.StartsWith(EventStreams.FleetPrefix, StringComparison.Ordinal))
            return AppendSingleWriterAsync(stream, data);
        return Task.CompletedTask;
    }

    // A usage or fleet stream has one writer in the sending region, and one link ships it here: append what is new.
    private async Task AppendSingleWriterAsync(string stream, EventData[] events)
    {
        var fresh = new List<EventData>(events.Length);
        foreach (var e in events)
        {
            if (!await store.ContainsAsync(e.Id)) fresh.Add(e);
        }
        foreach (var chunk in fresh.Chunk(EventStoreRules.MaxEventsPerAppend))
            await journal.AppendAsync(stream, await store.GetStreamVersionAsync(stream), chunk);
    }

    public async Task PutArtifactAsync(string sha256, byte[] bytes)
    {
        var actual = ArtifactHash.Of(bytes);
        if (actual != sha256)
            throw new ArgumentException($"artifact {sha256}: the bytes sent hash to {actual}", nameof(bytes));
        await artifacts.PutAsync(sha256, bytes);
    }

    // Only what this region holds: asking on would send the question back and forth between regions.
    public Task<string[]?> GetResidencyAsync(string model) => GrainFactory.GetGrain<IModelReplicaGrain>(model).GetLocalResidencyAsync();

    public async Task<bool> HasArtifactAsync(string sha256)
    {
        try
        {
            await artifacts.GetLocalFileAsync(sha256);
            return true;
        }
        catch (ArtifactNotFoundException)
        {
            return false;
        }
    }
}

/// <summary>The side of a model grain that replication uses: apply events that happened in another region.</summary>
public interface IModelReplicaGrain : IGrainWithStringKey
{
    /// <summary>Appends and folds the events not already in the stream (by id), in the order given.</summary>
    Task ApplyReplicatedAsync(EventData[] events);

    /// <summary>
    /// The regions the model is pinned to, if this region holds it and it is pinned; never asks other regions.
    /// Interleaved: a deploy this grain forwarded to the home region makes the home ask it this while it waits.
    /// </summary>
    [AlwaysInterleave]
    Task<string[]?> GetLocalResidencyAsync();
}
