using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Grains.Devices;
using Mesh.Grains.Events;
using Microsoft.Extensions.Logging;

namespace Mesh.Grains.Projections;

/// <summary>The fleet: each device's state folded from its events, exactly as its grain folds them.</summary>
[ImplicitStreamSubscription(EventFeed.Namespace)]
public sealed class FleetProjectionGrain(IEventStore store, ILogger<FleetProjectionGrain> logger)
    : ProjectionGrain<SortedDictionary<string, DeviceState>>(store, logger), IFleetProjectionGrain
{
    protected override string Name => "fleet";

    protected override void Apply(EventEnvelope envelope)
    {
        if (!envelope.Stream.StartsWith(EventStreams.DevicePrefix, StringComparison.Ordinal)) return;
        var device = envelope.Stream[EventStreams.DevicePrefix.Length..];
        if (!View.TryGetValue(device, out var state)) View[device] = state = new DeviceState();
        state.Apply((DeviceEvent)EventCodec.Decode(envelope));
    }

    public async Task<DeviceInfo[]> ListAsync() =>
        (await CurrentAsync()).Select(d => d.Value.ToInfo(d.Key)).OfType<DeviceInfo>().ToArray();
}
