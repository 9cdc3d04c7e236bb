using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Grains.Events;
using Orleans.Configuration;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Replication;

/// <summary>
/// Records this region's device aggregates (counts, results, losses, which models drift on how many devices) on
/// the stream fleet/REGION when they change. That stream replicates like usage: the aggregates reach every region,
/// the devices' own events stay in their home region.
/// </summary>
public sealed class FleetSummaryGrain(IEventStore store, EventJournal journal, IOptions<ClusterOptions> cluster, TimeProvider clock, Telemetry.MeshMetrics metrics)
    : Grain, IFleetSummaryGrain
{
    private FleetSummary? _last;

    public async Task RecordAsync()
    {
        var region = cluster.Value.ClusterId;
        var devices = await GrainFactory.GetGrain<IFleetProjectionGrain>(EventFeed.Key).ListAsync();
        // The summary reaches every region, so a model pinned to some regions is not named in it; its devices still
        // count in the totals.
        var pinned = new HashSet<string>(StringComparer.Ordinal);
        foreach (var model in devices.SelectMany(d => d.Models).Distinct(StringComparer.Ordinal))
        {
            if (await GrainFactory.GetGrain<IModelReplicaGrain>(model).GetLocalResidencyAsync() is not null) pinned.Add(model);
        }
        var models = devices.SelectMany(d => d.Models.Where(m => !pinned.Contains(m)).Select(m => (Model: m, Drifting: d.Drifting?.Contains(m) == true)))
            .GroupBy(x => x.Model, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new FleetModelSummary(g.Key, g.Count(), g.Count(x => x.Drifting)))
            .ToArray();
        var summary = new FleetSummary(region, devices.Length, devices.Sum(d => d.Sync?.Results ?? 0), devices.Sum(d => d.Sync?.Lost ?? 0), models, clock.GetUtcNow());
        var synced = devices.Where(d => d.Sync?.LastSyncAt is not null).Select(d => d.Sync!.LastSyncAt!.Value).ToArray();
        metrics.Fleet(summary, synced.Length == 0 ? null : summary.At - synced.Min());
        _last ??= (await GrainFactory.GetGrain<IFleetProjectionGrain>(EventFeed.Key).ListRegionsAsync()).FirstOrDefault(s => s.Region == region);
        if (_last is not null && Same(_last, summary)) return;
        if (_last is null && devices.Length == 0) return;
        var stream = EventStreams.Fleet(region);
        await journal.AppendAsync(stream, await store.GetStreamVersionAsync(stream), [new FleetSummaryRecorded(summary)]);
        _last = summary;
    }

    private static bool Same(FleetSummary a, FleetSummary b) =>
        a.Devices == b.Devices && a.Results == b.Results && a.Lost == b.Lost && a.Models.SequenceEqual(b.Models);
}
