using Mesh.Abstractions.Grains;
using Mesh.Grains.Events;
using Mesh.Grains.Telemetry;
using Mesh.Grains.Configuration;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Replication;

/// <summary>
/// The failovers this region took over, per region that failed: what clients report with their probes. The
/// counts are kept as store checkpoints ("failovers/REGION"), so `mesh regions` shows them after a restart.
/// </summary>
public sealed class FailoverTallyGrain(IEventStore store, MeshMetrics metrics, IOptions<RegionOptions> regions) : Grain, IFailoverTallyGrain
{
    private const string Prefix = "failovers/";
    private readonly Dictionary<string, FailoverCount> _counts = new(StringComparer.Ordinal);

    public async Task AddAsync(FailoverCount[] counts)
    {
        foreach (var reported in counts.Where(c => c.Predicts > 0 && !string.IsNullOrEmpty(c.From)))
        {
            var total = await LoadAsync(reported.From) + reported.Predicts;
            await store.SaveCheckpointAsync(Prefix + reported.From, total);
            _counts[reported.From] = new FailoverCount(reported.From, total, reported.LastAt ?? DateTimeOffset.UtcNow);
            metrics.FailoversTaken(reported.From, reported.Predicts);
        }
    }

    public Task<FailoverCount[]> GetAsync() =>
        Task.FromResult(_counts.Values.OrderBy(c => c.From, StringComparer.Ordinal).ToArray());

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Regions that failed over here before a restart: every configured peer's checkpoint.
        foreach (var peer in regions.Value.Peers)
        {
            var total = await store.GetCheckpointAsync(Prefix + peer.Name, cancellationToken);
            if (total > 0) _counts[peer.Name] = new FailoverCount(peer.Name, total);
        }
        await base.OnActivateAsync(cancellationToken);
    }

    private async Task<long> LoadAsync(string from) =>
        _counts.TryGetValue(from, out var known) ? known.Predicts : await store.GetCheckpointAsync(Prefix + from);
}
