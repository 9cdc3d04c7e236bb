using System.Diagnostics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Telemetry;
using Mesh.Grains.Events;
using Mesh.Grains.Telemetry;
using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace Mesh.Grains.Projections;

/// <summary>
/// A read model folded from the feed in position order. It hears of new events on the feed stream (implicit
/// subscription), but always reads them from the store from its own position on, so a lost or duplicated
/// announcement changes nothing; a timer catches up too. The fold is kept as a snapshot in the event store
/// (stream <c>projection/NAME</c>, version = feed position) at most every few seconds: a crash costs a replay
/// of the events after it, never a wrong read model.
/// </summary>
public abstract class ProjectionGrain<TState>(IEventStore store, ILogger logger) : Grain, IProjectionGrain
    where TState : class, new()
{
    private const int PageSize = 500;
    private static readonly TimeSpan SaveEvery = TimeSpan.FromSeconds(2);

    protected TState View { get; private set; } = new();
    private long _position;
    private long _saved;

    /// <summary>The snapshot format; a snapshot of another format is ignored and the read model folded again.</summary>
    protected virtual int SnapshotSchema => 1;

    /// <summary>The read model's name: its snapshot stream is <c>projection/NAME</c>.</summary>
    protected abstract string Name { get; }

    /// <summary>Folds one event into <see cref="View"/>. Events of other kinds are ignored.</summary>
    protected abstract void Apply(EventEnvelope envelope);

    private string SnapshotStream => "projection/" + Name;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await store.ReadSnapshotAsync(SnapshotStream, cancellationToken) is { } snapshot && snapshot.SchemaVersion == SnapshotSchema)
        {
            try
            {
                View = EventCodec.Deserialize<TState>(snapshot.Data) ?? new TState();
                _position = _saved = snapshot.Version;
            }
            catch (System.Text.Json.JsonException e)
            {
                logger.LogWarning(e, "Snapshot of projection {Projection} cannot be read; folding it again from the first event", Name);
            }
        }
        var feed = this.GetStreamProvider(EventFeed.StreamProvider).GetStream<EventEnvelope>(StreamId.Create(EventFeed.Namespace, this.GetPrimaryKeyString()));
        await feed.SubscribeAsync((e, _) => e.Position <= _position ? Task.CompletedTask : CatchUpAsync());
        this.RegisterGrainTimer(async () =>
        {
            await CatchUpAsync();
            await SaveAsync(force: false);
        }, new GrainTimerCreationOptions(SaveEvery, SaveEvery));
        await base.OnActivateAsync(cancellationToken);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await SaveAsync(force: true);
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <summary>Folds every event after the current position, in order.</summary>
    protected async Task CatchUpAsync()
    {
        while (true)
        {
            var page = await store.ReadFeedAsync(_position + 1, PageSize);
            foreach (var envelope in page)
            {
                // The fold of an event written in a trace joins that trace, however much later it runs.
                using var span = envelope.TraceParent is { } traceParent && MeshMetrics.Source.HasListeners()
                                 && ActivityContext.TryParse(traceParent, null, out var parent)
                    ? MeshMetrics.Source.StartActivity(MeshTelemetry.Spans.EventConsume, ActivityKind.Consumer, parent)
                    : null;
                span?.SetTag(MeshTelemetry.Tags.ReadModel, Name);
                span?.SetTag(MeshTelemetry.Tags.EventType, envelope.Type);
                try
                {
                    Apply(envelope);
                }
                catch (CorruptEventException e)
                {
                    // One unreadable event must not stop the read model: it is skipped, loudly.
                    logger.LogError(e, "Projection {Projection} skipped the event at position {Position}", Name, envelope.Position);
                }
                _position = envelope.Position;
            }
            if (page.Count < PageSize) return;
        }
    }

    private async Task SaveAsync(bool force)
    {
        if (_position == _saved && !force) return;
        try
        {
            await store.SaveSnapshotAsync(new StreamSnapshot(SnapshotStream, _position, SnapshotSchema, EventCodec.Serialize(View)));
            _saved = _position;
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Snapshot of projection {Projection} at position {Position} was not saved", Name, _position);
        }
    }

    /// <summary>The read model, caught up with the feed.</summary>
    protected async Task<TState> CurrentAsync()
    {
        await CatchUpAsync();
        return View;
    }

    public Task<long> GetPositionAsync() => Task.FromResult(_position);

    public async Task<long> RebuildAsync()
    {
        View = new TState();
        _position = 0;
        await CatchUpAsync();
        await SaveAsync(force: true);
        return _position;
    }

    public async Task<string> ExportAsync() => EventCodec.Serialize(await CurrentAsync());
}
