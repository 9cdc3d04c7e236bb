namespace Mesh.Abstractions.Events;

/// <summary>
/// One event as the store keeps it and consumers receive it. <see cref="Version"/> is its place in its stream
/// (1, 2, ...); <see cref="Position"/> its place in the region's feed, which orders every stream's events as they
/// were stored there (1, 2, ... with no gaps). <see cref="Type"/> and <see cref="SchemaVersion"/> say how to read
/// <see cref="Data"/> (JSON); <see cref="Actor"/> is who caused it and <see cref="Region"/> where it happened first;
/// <see cref="Hlc"/> is its hybrid logical clock stamp there (see <see cref="HybridTimestamp"/>), kept as it
/// replicates, which orders conflicting writes the same way in every region. <see cref="TraceParent"/> is the W3C
/// trace context the event was written in (null when nobody traced), so a consumer's work joins the writer's trace.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record EventEnvelope(
    Guid Id,
    string Stream,
    long Version,
    long Position,
    string Type,
    int SchemaVersion,
    DateTimeOffset Timestamp,
    string Actor,
    string Region,
    string Data,
    long Hlc = 0,
    string? TraceParent = null);

/// <summary>An event to append: everything but its stream version and feed position, which the store assigns.</summary>
[GenerateSerializer, Immutable]
public sealed record EventData(
    Guid Id,
    string Type,
    int SchemaVersion,
    DateTimeOffset Timestamp,
    string Actor,
    string Region,
    string Data,
    long Hlc = 0,
    string? TraceParent = null);

/// <summary>Stream names: <c>model/NAME</c>, <c>device/ID</c>, <c>usage/SILO</c>, <c>fleet/REGION</c>.</summary>
public static class EventStreams
{
    public const string ModelPrefix = "model/";
    public const string DevicePrefix = "device/";
    public const string UsagePrefix = "usage/";

    public static string Model(string name) => ModelPrefix + name;

    public static string Device(string id) => DevicePrefix + id;

    public static string Usage(string silo) => UsagePrefix + silo;

    /// <summary>A region's device aggregates: what of its devices leaves the region (their own events stay home).</summary>
    public const string FleetPrefix = "fleet/";

    public static string Fleet(string region) => FleetPrefix + region;
}

/// <summary>
/// The Orleans stream a region's events are announced on as they are stored (memory streams embedded, Azure
/// Queue in production). An announcement may be lost; the store is the truth, so readers that see a gap in
/// positions read the gap from the store.
/// </summary>
public static class EventFeed
{
    public const string StreamProvider = "mesh-events";
    public const string Namespace = "events";
    public const string Key = "feed";
}
