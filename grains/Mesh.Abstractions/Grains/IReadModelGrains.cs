using Mesh.Abstractions.Events;
using Mesh.Abstractions.Models;

namespace Mesh.Abstractions.Grains;

/// <summary>
/// A read model folded from the region's event feed. Each answers after catching up with the feed, so a caller
/// reads its own writes. Key: <see cref="EventFeed.Key"/> (they hear of new events on that stream).
/// </summary>
public interface IProjectionGrain : IGrainWithStringKey
{
    /// <summary>The feed position the read model has folded up to.</summary>
    Task<long> GetPositionAsync();

    /// <summary>Drops the read model and folds it again from the first event in the store; returns the position reached.</summary>
    Task<long> RebuildAsync();

    /// <summary>The read model as JSON, to compare a rebuilt one with a live one.</summary>
    Task<string> ExportAsync();
}

/// <summary>Every model with its versions, traffic and policy: what <c>mesh models</c> lists.</summary>
public interface ICatalogProjectionGrain : IProjectionGrain
{
    [InferRole]
    Task<ModelInfo[]> ListAsync();
}

/// <summary>Who changed what, when, where: the newest <see cref="MaxEntries"/> changes to models and devices.</summary>
public interface IAuditProjectionGrain : IProjectionGrain
{
    const int MaxEntries = 10_000;

    /// <summary>Newest last; filtered by model name and actor when given.</summary>
    Task<AuditEntry[]> QueryAsync(string? model = null, string? actor = null, int limit = 100);
}

/// <summary>Every device registered in this region, with its twin and sync state: what <c>mesh devices</c> lists.</summary>
public interface IFleetProjectionGrain : IProjectionGrain
{
    Task<DeviceInfo[]> ListAsync();

    /// <summary>This region's device aggregates as recorded last, and every peer region's as replicated here.</summary>
    Task<FleetSummary[]> ListRegionsAsync();
}

/// <summary>How many devices a region has, what they synced and lost, and per model how many run it and how many drift.</summary>
[GenerateSerializer, Immutable]
public sealed record FleetSummary(string Region, int Devices, long Results, long Lost, FleetModelSummary[] Models, DateTimeOffset At);

[GenerateSerializer, Immutable]
public sealed record FleetModelSummary(string Model, int Devices, int Drifting);

/// <summary>Records this region's <see cref="FleetSummary"/> on its fleet stream when it changed (one activation per region, key 0).</summary>
public interface IFleetSummaryGrain : IGrainWithIntegerKey
{
    Task RecordAsync();
}

/// <summary>Usage per caller across the region's silos.</summary>
public interface IUsageProjectionGrain : IProjectionGrain
{
    Task<UsageRecord[]> ListAsync();
}

/// <summary>One change in the audit log.</summary>
[GenerateSerializer, Immutable]
public sealed record AuditEntry(long Position, DateTimeOffset Time, string Actor, string Region, string Stream, string Type, string Summary);

/// <summary>
/// Reads the region's event feed for outside consumers (the SDK's <c>ReadEventsAsync</c>, <c>mesh events</c>).
/// A stateless worker in every silo: consumers do not funnel through one activation.
/// </summary>
public interface IEventFeedGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Events from <paramref name="fromPosition"/> on, at most <paramref name="maxCount"/>, only of streams that
    /// start with <paramref name="streamPrefix"/> when given. When none is there yet, waits up to
    /// <paramref name="wait"/> for one.
    /// </summary>
    Task<FeedPage> ReadAsync(long fromPosition, int maxCount, string? streamPrefix, TimeSpan wait);

    /// <summary>The position of the newest event (0 when none).</summary>
    Task<long> GetHeadAsync();
}

/// <summary>A page of the feed and the position to read from next (past events a stream filter skipped).</summary>
[GenerateSerializer, Immutable]
public sealed record FeedPage(EventEnvelope[] Events, long NextPosition);
