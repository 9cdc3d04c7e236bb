using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Microsoft.Extensions.Logging;

namespace Mesh.Grains.Events;

/// <summary>
/// A grain whose state is the fold of its own event stream. A change is checked against <see cref="State"/> by
/// the subclass, then <see cref="RaiseAsync"/> appends it with the stream version it was checked against (a
/// second activation that wrote meanwhile makes the append fail, never overwritten) and folds it. Activation reads
/// the latest snapshot and replays only the events after it; a snapshot is saved every
/// <see cref="SnapshotEvery"/> events.
/// </summary>
public abstract class EventSourcedGrain<TState>(IEventStore store, EventJournal journal, ILogger logger) : Grain
    where TState : class, new()
{
    public const int SnapshotEvery = 50;

    protected TState State { get; private set; } = new();

    /// <summary>The stream's last version folded into <see cref="State"/>.</summary>
    protected long StreamVersion { get; private set; }

    protected abstract string Stream { get; }

    /// <summary>The newest clock stamp folded: new events are stamped after it.</summary>
    protected long NewestHlc { get; private set; }

    /// <summary>Folds one event with its stamp; never refuses (the change was checked before it was raised).</summary>
    protected abstract void Apply(TState state, object e, EventStamp stamp);

    /// <summary>
    /// The event a stored envelope holds, for folding it on replay. A subclass whose fold needs less than the
    /// whole event may read less (the device grain reads only the sequence numbers of synced results).
    /// </summary>
    protected virtual object DecodeForFold(EventEnvelope envelope) => EventCodec.Decode(envelope);

    /// <summary>The snapshot format; a snapshot of another format is ignored and the stream replayed whole.</summary>
    protected virtual int SnapshotSchema => 1;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken);
        await base.OnActivateAsync(cancellationToken);
    }

    private async Task LoadAsync(CancellationToken cancellation = default)
    {
        var state = new TState();
        long version = 0, newest = 0;
        if (await store.ReadSnapshotAsync(Stream, cancellation) is { } snapshot && snapshot.SchemaVersion == SnapshotSchema
            && EventCodec.Deserialize<Snapshot>(snapshot.Data) is { State: { } folded } saved)
        {
            (state, version, newest) = (folded, snapshot.Version, saved.NewestHlc);
        }
        foreach (var envelope in await store.ReadStreamAsync(Stream, version + 1, cancellation: cancellation))
        {
            Apply(state, DecodeForFold(envelope), EventStamp.Of(envelope));
            version = envelope.Version;
            newest = Math.Max(newest, envelope.Hlc);
        }
        (State, StreamVersion, NewestHlc) = (state, version, newest);
    }

    // The raised objects are folded as they are: decoding what was just encoded would only cost time.
    protected Task RaiseAsync(params object[] events) =>
        AppendAsync(() => journal.AppendAsync(Stream, StreamVersion, events, NewestHlc), events);

    /// <summary>Appends events that happened elsewhere (replicated), keeping their ids, stamps and regions.</summary>
    protected Task AppendReplicatedAsync(IReadOnlyList<EventData> events) =>
        AppendAsync(() => journal.AppendAsync(Stream, StreamVersion, events), raised: null);

    private async Task AppendAsync(Func<Task<IReadOnlyList<EventEnvelope>>> append, object[]? raised)
    {
        IReadOnlyList<EventEnvelope> stored;
        try
        {
            stored = await append();
        }
        catch (EventStreamConflictException)
        {
            // Another activation (a brief duplicate across silos) wrote first: take its events; the caller may retry.
            await LoadAsync();
            throw;
        }
        var before = StreamVersion;
        for (var i = 0; i < stored.Count; i++)
        {
            var envelope = stored[i];
            Apply(State, raised is { } events && events.Length == stored.Count ? events[i] : DecodeForFold(envelope), EventStamp.Of(envelope));
            NewestHlc = Math.Max(NewestHlc, envelope.Hlc);
        }
        StreamVersion += stored.Count;
        if (StreamVersion / SnapshotEvery > before / SnapshotEvery)
        {
            try
            {
                await store.SaveSnapshotAsync(new StreamSnapshot(Stream, StreamVersion, SnapshotSchema, EventCodec.Serialize(new Snapshot(State, NewestHlc))));
            }
            catch (Exception e)
            {
                // The events are stored; a missing snapshot only makes the next activation replay more.
                logger.LogWarning(e, "Snapshot of {Stream} at version {Version} was not saved", Stream, StreamVersion);
            }
        }
    }

    /// <summary>What a snapshot holds: the folded state and the newest stamp folded into it.</summary>
    public sealed record Snapshot(TState State, long NewestHlc);
}
