using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Grains.Devices;
using Mesh.Grains.Events;
using Microsoft.Extensions.Logging;

namespace Mesh.Grains.Projections;

/// <summary>The fleet read model: this region's devices, and every region's device aggregates.</summary>
public sealed class FleetView
{
    public SortedDictionary<string, DeviceState> Devices { get; set; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, FleetSummary> Regions { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// The fleet: each device's state folded from its events, exactly as its grain folds them, and the newest
/// aggregate each region recorded (peers' arrive by replication; their devices' own events never do).
/// </summary>
[ImplicitStreamSubscription(EventFeed.Namespace)]
public sealed class FleetProjectionGrain(IEventStore store, ILogger<FleetProjectionGrain> logger)
    : ProjectionGrain<FleetView>(store, logger), IFleetProjectionGrain
{
    protected override string Name => "fleet";

    protected override int SnapshotSchema => 2;

    protected override void Apply(EventEnvelope envelope)
    {
        if (envelope.Stream.StartsWith(EventStreams.DevicePrefix, StringComparison.Ordinal))
        {
            var device = envelope.Stream[EventStreams.DevicePrefix.Length..];
            if (!View.Devices.TryGetValue(device, out var state)) View.Devices[device] = state = new DeviceState();
            state.Apply((DeviceEvent)EventCodec.Decode(envelope));
        }
        else if (envelope.Stream.StartsWith(EventStreams.FleetPrefix, StringComparison.Ordinal))
        {
            var summary = ((FleetSummaryRecorded)EventCodec.Decode(envelope)).Summary;
            if (!View.Regions.TryGetValue(summary.Region, out var known) || known.At <= summary.At) View.Regions[summary.Region] = summary;
        }
    }

    public async Task<DeviceInfo[]> ListAsync() =>
        (await CurrentAsync()).Devices.Select(d => d.Value.ToInfo(d.Key)).OfType<DeviceInfo>().ToArray();

    public async Task<FleetSummary[]> ListRegionsAsync() => (await CurrentAsync()).Regions.Values.ToArray();
}
