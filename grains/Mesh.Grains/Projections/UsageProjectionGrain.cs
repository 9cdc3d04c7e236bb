using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Events;
using Microsoft.Extensions.Logging;

namespace Mesh.Grains.Projections;

/// <summary>Usage per caller: the sum of every silo's <see cref="UsageRecorded"/> events.</summary>
[ImplicitStreamSubscription(EventFeed.Namespace)]
public sealed class UsageProjectionGrain(IEventStore store, ILogger<UsageProjectionGrain> logger)
    : ProjectionGrain<SortedDictionary<string, UsageRecord>>(store, logger), IUsageProjectionGrain
{
    protected override string Name => "usage";

    protected override void Apply(EventEnvelope envelope)
    {
        if (!envelope.Stream.StartsWith(EventStreams.UsagePrefix, StringComparison.Ordinal)) return;
        foreach (var record in ((UsageRecorded)EventCodec.Decode(envelope)).Usage)
        {
            View[record.Caller] = View.TryGetValue(record.Caller, out var total)
                ? new UsageRecord(record.Caller, total.Requests + record.Requests, total.Rows + record.Rows, total.ComputeMs + record.ComputeMs, total.QueueMs + record.QueueMs)
                : record;
        }
    }

    public async Task<UsageRecord[]> ListAsync() => (await CurrentAsync()).Values.ToArray();
}
