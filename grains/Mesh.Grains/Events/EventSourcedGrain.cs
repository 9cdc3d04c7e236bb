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
    private const int SnapshotSchema = 1;

    protected TState State { get; private set; } = new();

    /// <summary>The stream's last version folded into <see cref="State"/>.</summary>
    protected long StreamVersion { get; private set; }

    protected abstract string Stream { get; }

    /// <summary>Folds one event; never refuses (the change was checked before it was raised).</summary>
    protected abstract void Apply(TState state, object e);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken);
        await base.OnActivateAsync(cancellationToken);
    }

    private async Task LoadAsync(CancellationToken cancellation = default)
    {
        var state = new TState();
        long version = 0;
        if (await store.ReadSnapshotAsync(Stream, cancellation) is { SchemaVersion: SnapshotSchema } snapshot
            && EventCodec.Deserialize<TState>(snapshot.Data) is { } folded)
        {
            (state, version) = (folded, snapshot.Version);
        }
        foreach (var envelope in await store.ReadStreamAsync(Stream, version + 1, cancellation: cancellation))
        {
            Apply(state, EventCodec.Decode(envelope));
            version = envelope.Version;
        }
        (State, StreamVersion) = (state, version);
    }

    protected async Task RaiseAsync(params object[] events)
    {
        try
        {
            await journal.AppendAsync(Stream, StreamVersion, events);
        }
        catch (EventStreamConflictException)
        {
            // Another activation (a brief duplicate across silos) wrote first: take its events; the caller may retry.
            await LoadAsync();
            throw;
        }
        var before = StreamVersion;
        foreach (var e in events) Apply(State, e);
        StreamVersion += events.Length;
        if (StreamVersion / SnapshotEvery > before / SnapshotEvery)
        {
            try
            {
                await store.SaveSnapshotAsync(new StreamSnapshot(Stream, StreamVersion, SnapshotSchema, EventCodec.Serialize(State)));
            }
            catch (Exception e)
            {
                // The events are stored; a missing snapshot only makes the next activation replay more.
                logger.LogWarning(e, "Snapshot of {Stream} at version {Version} was not saved", Stream, StreamVersion);
            }
        }
    }
}
