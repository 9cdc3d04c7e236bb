using Mesh.Abstractions.Events;

namespace Mesh.Grains.Events;

/// <summary>
/// The log every change of state in a region goes to. Streams (one per model, per device) are appended with
/// optimistic concurrency; the region's feed orders all streams' events by the position the store gave them, with
/// no gaps, so a reader that remembers the last position it handled misses nothing. Two implementations, one
/// contract suite: <see cref="SqliteEventStore"/> (embedded) and the Azure Table store (production).
/// </summary>
public interface IEventStore
{
    /// <summary>
    /// Appends <paramref name="events"/> to <paramref name="stream"/> if the stream's last version is
    /// <paramref name="expectedVersion"/> (0 for a new stream), all or nothing; returns the stored envelopes.
    /// Throws <c>EventStreamConflictException</c> when the stream moved on, and stores nothing.
    /// </summary>
    Task<IReadOnlyList<EventEnvelope>> AppendAsync(string stream, long expectedVersion, IReadOnlyList<EventData> events, CancellationToken cancellation = default);

    /// <summary>The stream's events from version <paramref name="fromVersion"/> on, in order, at most <paramref name="maxCount"/>.</summary>
    Task<IReadOnlyList<EventEnvelope>> ReadStreamAsync(string stream, long fromVersion = 1, int maxCount = int.MaxValue, CancellationToken cancellation = default);

    /// <summary>The feed's events from position <paramref name="fromPosition"/> on, in order, at most <paramref name="maxCount"/>.</summary>
    Task<IReadOnlyList<EventEnvelope>> ReadFeedAsync(long fromPosition, int maxCount, CancellationToken cancellation = default);

    /// <summary>The stream's last version (0 when it has no events).</summary>
    Task<long> GetStreamVersionAsync(string stream, CancellationToken cancellation = default);

    /// <summary>Whether an event with this id is stored (replicated events are applied once, by id).</summary>
    Task<bool> ContainsAsync(Guid id, CancellationToken cancellation = default);

    /// <summary>The position of the feed's last event (0 when empty).</summary>
    Task<long> GetFeedHeadAsync(CancellationToken cancellation = default);

    /// <summary>A named reader's saved position (the last one it handled), or 0.</summary>
    Task<long> GetCheckpointAsync(string reader, CancellationToken cancellation = default);

    Task SaveCheckpointAsync(string reader, long position, CancellationToken cancellation = default);

    /// <summary>The latest snapshot of a stream's folded state, if one was saved.</summary>
    Task<StreamSnapshot?> ReadSnapshotAsync(string stream, CancellationToken cancellation = default);

    /// <summary>Saves a snapshot; an older one (lower version) than the one stored is ignored.</summary>
    Task SaveSnapshotAsync(StreamSnapshot snapshot, CancellationToken cancellation = default);
}

/// <summary>A stream's state folded up to <see cref="Version"/>, so loading it replays only the events after.</summary>
public sealed record StreamSnapshot(string Stream, long Version, int SchemaVersion, string Data);

/// <summary>Checks shared by the stores, so both refuse the same things with the same words.</summary>
public static class EventStoreRules
{
    /// <summary>Events one append may hold; Azure Table's entity group transaction (100 operations) sets it.</summary>
    public const int MaxEventsPerAppend = 32;

    public static void CheckAppend(string stream, long expectedVersion, IReadOnlyList<EventData> events)
    {
        CheckStream(stream);
        if (expectedVersion < 0)
            throw new ArgumentOutOfRangeException(nameof(expectedVersion), expectedVersion, $"event stream '{stream}': the expected version must be 0 (a new stream) or more");
        if (events.Count == 0)
            throw new ArgumentException($"event stream '{stream}': an append needs at least one event", nameof(events));
        if (events.Count > MaxEventsPerAppend)
            throw new ArgumentException($"event stream '{stream}': an append holds at most {MaxEventsPerAppend} events (was {events.Count})", nameof(events));
        foreach (var e in events)
        {
            if (string.IsNullOrWhiteSpace(e.Type))
                throw new ArgumentException($"event stream '{stream}': event {e.Id} has no type", nameof(events));
            if (e.Data is null)
                throw new ArgumentException($"event stream '{stream}': event {e.Id} has no data", nameof(events));
        }
        if (events.Select(e => e.Id).Distinct().Count() != events.Count)
            throw new ArgumentException($"event stream '{stream}': an append holds the same event id twice", nameof(events));
    }

    public static void CheckStream(string stream)
    {
        if (string.IsNullOrWhiteSpace(stream) || stream.Length > 200 || stream.Any(char.IsControl))
            throw new ArgumentException($"event stream name '{stream}' must be 1 to 200 characters with no control characters", nameof(stream));
    }
}
