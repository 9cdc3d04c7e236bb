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
        foreach (var stream in events.GroupBy(e => e.Stream))
        {
            var data = stream.OrderBy(e => e.Position)
                .Select(e => new EventData(e.Id, e.Type, e.SchemaVersion, e.Timestamp, e.Actor, e.Region, e.Data, e.Hlc, e.TraceParent))
                .ToArray();
            if (stream.Key.StartsWith(EventStreams.ModelPrefix, StringComparison.Ordinal))
                await GrainFactory.GetGrain<IModelReplicaGrain>(stream.Key[EventStreams.ModelPrefix.Length..]).ApplyReplicatedAsync(data);
            else if (stream.Key.StartsWith(EventStreams.UsagePrefix, StringComparison.Ordinal) || stream.Key.StartsWith(EventStreams.FleetPrefix, StringComparison.Ordinal))
                await AppendSingleWriterAsync(stream.Key, data);
        }
        var now = DateTimeOffset.UtcNow;
        foreach (var e in events)
        {
            clock.Observe(e.Hlc);
            metrics.ReplicationLag(fromRegion, (now - e.Timestamp).TotalMilliseconds);
        }
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
