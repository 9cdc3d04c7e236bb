using System.Net;

namespace Mesh.Grains.Configuration;

/// <summary>
/// This region's peers (section <c>Mesh:Regions</c>). The local region is the silo's cluster id; every region
/// ships the events that happened in it to every peer named here, so a mesh of regions lists each other.
/// </summary>
public sealed class RegionOptions : IValidatedOptions
{
    public const string Section = "Mesh:Regions";

    public List<PeerRegion> Peers { get; set; } = [];

    /// <summary>How often events waiting for a peer are shipped.</summary>
    public TimeSpan ReplicationInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a call to a peer may take before it counts as failed (and is tried again later).</summary>
    public TimeSpan PeerCallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The API key this region presents to its peers' Orleans gateways (an admin key there) when they have keys
    /// configured; replication and residency questions are management calls.
    /// </summary>
    public string? PeerApiKey { get; set; }

    /// <summary>Events shipped to a peer in one call.</summary>
    public int BatchSize { get; set; } = 256;

    public IEnumerable<string> Validate()
    {
        for (var i = 0; i < Peers.Count; i++)
        {
            var peer = Peers[i];
            if (string.IsNullOrWhiteSpace(peer.Name))
                yield return $"{Section}:Peers:{i}:Name must name the peer region (its cluster id)";
            if (!IPEndPoint.TryParse(peer.Gateway ?? "", out var endpoint) || endpoint.Port == 0)
                yield return $"{Section}:Peers:{i}:Gateway must be an Orleans gateway as ip:port (was '{peer.Gateway}')";
        }
        if (Peers.Select(p => p.Name).Distinct(StringComparer.Ordinal).Count() != Peers.Count)
            yield return $"{Section}:Peers names a region twice";
        if (ReplicationInterval <= TimeSpan.Zero)
            yield return $"{Section}:{nameof(ReplicationInterval)} must be positive (was {ReplicationInterval})";
        if (PeerCallTimeout <= TimeSpan.Zero)
            yield return $"{Section}:{nameof(PeerCallTimeout)} must be positive (was {PeerCallTimeout})";
        if (BatchSize is < 1 or > 10_000)
            yield return $"{Section}:{nameof(BatchSize)} must be 1 to 10000 (was {BatchSize})";
    }
}

/// <summary>A peer region: its name (cluster id) and one of its Orleans gateways.</summary>
public sealed class PeerRegion
{
    public string Name { get; set; } = "";
    public string Gateway { get; set; } = "";
}
