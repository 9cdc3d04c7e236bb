using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Events;
using Mesh.Grains.Models;
using Microsoft.Extensions.Logging;

namespace Mesh.Grains.Projections;

/// <summary>The model catalog: each model's state folded from its events, exactly as its grain folds them.</summary>
[ImplicitStreamSubscription(EventFeed.Namespace)]
public sealed class CatalogProjectionGrain(IEventStore store, ILogger<CatalogProjectionGrain> logger)
    : ProjectionGrain<SortedDictionary<string, ModelState>>(store, logger), ICatalogProjectionGrain
{
    protected override string Name => "catalog";

    protected override int SnapshotSchema => 2;

    protected override void Apply(EventEnvelope envelope)
    {
        if (!envelope.Stream.StartsWith(EventStreams.ModelPrefix, StringComparison.Ordinal)) return;
        var model = envelope.Stream[EventStreams.ModelPrefix.Length..];
        var e = (ModelEvent)EventCodec.Decode(envelope);
        if (!View.TryGetValue(model, out var state)) View[model] = state = new ModelState();
        state.Apply(e, model, EventStamp.Of(envelope));
    }

    public async Task<ModelInfo[]> ListAsync() =>
        (await CurrentAsync()).Where(m => m.Value.HasVersions).Select(m => m.Value.ToInfo(m.Key)).ToArray();
}
