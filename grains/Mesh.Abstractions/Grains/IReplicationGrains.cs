using Mesh.Abstractions.Events;

namespace Mesh.Abstractions.Grains;

/// <summary>
/// The link from this region to one peer (key: the peer's name): ships the events that happened here, in feed
/// order, at least once, and keeps its position in the store so that a restart resumes where it stopped.
/// </summary>
public interface IReplicatorGrain : IGrainWithStringKey
{
    /// <summary>Makes sure the link runs (activations come and go; the silos call this now and then).</summary>
    Task StartAsync();

    Task<ReplicationStatus> GetStatusAsync();

    /// <summary>
    /// Events to ship were appended: ship now, not at the next interval. While a shipment is under way, wakes
    /// only mark that another is due, so under load shipments batch instead of queueing one per append.
    /// </summary>
    [Orleans.Concurrency.OneWay, Orleans.Concurrency.AlwaysInterleave]
    Task WakeAsync();

    /// <summary>
    /// Stops (true) or resumes (false) shipping to the peer: the link is cut, both regions keep serving and
    /// writing, and on resume everything written meanwhile goes across. Kept in the store, so it survives restarts.
    /// </summary>
    Task SetPausedAsync(bool paused);
}

/// <summary>Where a link stands: the last feed position shipped, the feed's head, and the last failure, if any.</summary>
[GenerateSerializer, Immutable]
public sealed record ReplicationStatus(string Peer, long ShippedPosition, long HeadPosition, DateTimeOffset? LastShippedAt, string? LastError, long EventsShipped, bool Paused = false);

/// <summary>
/// Receives a peer region's events (and the artifacts they name) in this region. A stateless worker: links from
/// several peers do not queue behind one activation.
/// </summary>
public interface IReplicationInboxGrain : IGrainWithIntegerKey
{
    /// <summary>Applies events that happened in <paramref name="fromRegion"/>, in order; events already here are skipped by id.</summary>
    Task ApplyAsync(string fromRegion, EventEnvelope[] events);

    /// <summary>Stores an artifact a replicated version names; its hash is checked first.</summary>
    Task PutArtifactAsync(string sha256, byte[] bytes);

    /// <summary>Whether this region holds the artifact already (so a link need not send it again).</summary>
    Task<bool> HasArtifactAsync(string sha256);

    /// <summary>
    /// The regions <paramref name="model"/> is pinned to, if it lives here and is pinned; null otherwise. All a
    /// region outside the set learns of the model: enough to refuse its predicts with the residency error.
    /// </summary>
    Task<string[]?> GetResidencyAsync(string model);
}

/// <summary>The region a client is connected to and its links to its peers (any silo answers; key 0).</summary>
public interface IRegionGrain : IGrainWithIntegerKey
{
    Task<RegionStatus> GetStatusAsync();

    /// <summary>
    /// A client's health probe of this region, carrying the predicts it sent here since its last probe because
    /// the region it prefers failed (counted by the region that failed). Cheap: it is also the latency probe.
    /// </summary>
    Task ProbeAsync(FailoverCount[] failoversTaken);
}

/// <summary>
/// Predicts this region answered for clients whose preferred region (<paramref name="From"/>) had failed: one
/// region's view of the failovers that reached it, kept across restarts.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record FailoverCount(string From, long Predicts, DateTimeOffset? LastAt = null);

/// <summary>Counts the failovers a region took over (one activation per region, key 0; off the predict path).</summary>
public interface IFailoverTallyGrain : IGrainWithIntegerKey
{
    Task AddAsync(FailoverCount[] counts);

    Task<FailoverCount[]> GetAsync();
}

/// <summary>A region's name, the head of its feed, each link to a peer, and the failovers it took over.</summary>
[GenerateSerializer, Immutable]
public sealed record RegionStatus(string Name, long HeadPosition, ReplicationStatus[] Peers, FailoverCount[]? FailoversTaken = null);
