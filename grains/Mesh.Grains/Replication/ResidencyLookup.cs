using System.Collections.Concurrent;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Grains;
using Mesh.Grains.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Mesh.Grains.Replication;

/// <summary>
/// Tells "not deployed anywhere" from "pinned to other regions" for a model this region does not know: asks the
/// peers (a name in, a list of regions out) and remembers the answer for a few seconds, so unknown names do not
/// cost a peer call per predict.
/// </summary>
public sealed class ResidencyLookup(PeerConnections peers, IOptions<RegionOptions> regions, IOptions<ClusterOptions> cluster, TimeProvider clock, ILogger<ResidencyLookup> logger)
{
    private static readonly TimeSpan Remember = TimeSpan.FromSeconds(5);
    // The question is asked on a request's path: a peer that is slow to answer is taken as not knowing.
    private static readonly TimeSpan AskAtMost = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<string, (string[]? Regions, DateTimeOffset Until)> _answers = new(StringComparer.Ordinal);

    /// <summary>
    /// Throws <see cref="ModelResidencyException"/> when a peer holds <paramref name="model"/> pinned away from this
    /// region; <paramref name="fresh"/> asks the peers again instead of taking a remembered answer (a deploy must
    /// not take a name another region pinned a moment ago).
    /// </summary>
    public async Task ThrowIfPinnedElsewhereAsync(string model, bool fresh = false)
    {
        if (regions.Value.Peers.Count == 0) return;
        var now = clock.GetUtcNow();
        if (fresh || !_answers.TryGetValue(model, out var known) || known.Until < now)
        {
            known = (await AskPeersAsync(model), now + Remember);
            _answers[model] = known;
        }
        if (known.Regions is { } pinned && !pinned.Contains(cluster.Value.ClusterId, StringComparer.Ordinal))
            throw new ModelResidencyException(model, pinned, cluster.Value.ClusterId);
    }

    private async Task<string[]?> AskPeersAsync(string model)
    {
        foreach (var peer in regions.Value.Peers)
        {
            try
            {
                var ask = Task.Run(async () => await (await peers.GetAsync(peer.Name)).GetGrain<IReplicationInboxGrain>(0).GetResidencyAsync(model));
                if (await ask.WaitAsync(AskAtMost) is { } pinned)
                    return pinned;
            }
            catch (Exception e) when (e is not MeshException)
            {
                // A peer that cannot answer now leaves the model "not deployed" here, which is true of this region.
                logger.LogDebug(e, "Peer {Peer} did not answer about the residency of {Model}", peer.Name, model);
            }
        }
        return null;
    }
}
