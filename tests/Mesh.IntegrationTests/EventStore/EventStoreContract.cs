using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Grains.Events;

namespace Mesh.IntegrationTests.EventStore;

/// <summary>
/// What every event store must do, run against each implementation (SQLite here, Azure Table on Azurite).
/// Each test gets a fresh, empty store.
/// </summary>
public abstract class EventStoreContract
{
    protected abstract Task<IEventStore> NewStoreAsync();

    protected static EventData Event(string type, string data = "{}", string region = "local") =>
        new(Guid.NewGuid(), type, 1, DateTimeOffset.UtcNow, "tester", region, data, HybridTimestamp.Pack(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 3));

    [Fact]
    public async Task Appended_events_read_back_in_order_with_versions_positions_and_metadata()
    {
        var store = await NewStoreAsync();
        var first = Event("ModelVersionRegistered", """{"version":1}""");
        var stored = await store.AppendAsync("model/a", 0, [first, Event("PolicyChanged")]);
        await store.AppendAsync("model/a", 2, [Event("VersionRetired")]);

        var events = await store.ReadStreamAsync("model/a");
        Assert.Equal([1L, 2, 3], events.Select(e => e.Version));
        Assert.Equal([1L, 2, 3], events.Select(e => e.Position));
        Assert.Equal(["ModelVersionRegistered", "PolicyChanged", "VersionRetired"], events.Select(e => e.Type));
        var e0 = events[0];
        Assert.Equal((first.Id, "model/a", 1, "tester", "local", """{"version":1}""", first.Hlc), (e0.Id, e0.Stream, e0.SchemaVersion, e0.Actor, e0.Region, e0.Data, e0.Hlc));
        Assert.True(await store.ContainsAsync(first.Id));
        Assert.Equal(3, await store.GetStreamVersionAsync("model/a"));
        Assert.Equal(0, await store.GetStreamVersionAsync("model/none"));
        Assert.False(await store.ContainsAsync(Guid.NewGuid()));
        Assert.True(Math.Abs((e0.Timestamp - first.Timestamp).TotalMilliseconds) < 1);
        Assert.Equal(stored, events.Take(2));
        Assert.Equal([2L, 3], (await store.ReadStreamAsync("model/a", fromVersion: 2)).Select(e => e.Version));
        Assert.Single(await store.ReadStreamAsync("model/a", fromVersion: 1, maxCount: 1));
        Assert.Empty(await store.ReadStreamAsync("model/none"));
    }

    [Fact]
    public async Task An_append_at_a_stale_version_is_a_conflict_and_stores_nothing()
    {
        var store = await NewStoreAsync();
        await store.AppendAsync("model/b", 0, [Event("A"), Event("B")]);

        var conflict = await Assert.ThrowsAsync<EventStreamConflictException>(() => store.AppendAsync("model/b", 1, [Event("C"), Event("D")]));
        Assert.Equal((1L, 2L), (conflict.ExpectedVersion, conflict.ActualVersion));
        Assert.Contains("event stream 'model/b': expected version 1, but it is at 2", conflict.Message);
        await Assert.ThrowsAsync<EventStreamConflictException>(() => store.AppendAsync("model/b", 0, [Event("C")]));
        await Assert.ThrowsAsync<EventStreamConflictException>(() => store.AppendAsync("model/new", 3, [Event("C")]));

        Assert.Equal(["A", "B"], (await store.ReadStreamAsync("model/b")).Select(e => e.Type));
        Assert.Equal(2, await store.GetFeedHeadAsync());
    }

    [Fact]
    public async Task The_feed_orders_every_stream_by_position_with_no_gaps()
    {
        var store = await NewStoreAsync();
        await store.AppendAsync("model/x", 0, [Event("x1")]);
        await store.AppendAsync("device/d-1", 0, [Event("d1"), Event("d2")]);
        await store.AppendAsync("model/x", 1, [Event("x2")]);

        var feed = await store.ReadFeedAsync(1, 100);
        Assert.Equal([1L, 2, 3, 4], feed.Select(e => e.Position));
        Assert.Equal(["x1", "d1", "d2", "x2"], feed.Select(e => e.Type));
        Assert.Equal(["model/x", "device/d-1", "device/d-1", "model/x"], feed.Select(e => e.Stream));
        Assert.Equal(["d2", "x2"], (await store.ReadFeedAsync(3, 100)).Select(e => e.Type));
        Assert.Equal(["d1"], (await store.ReadFeedAsync(2, 1)).Select(e => e.Type));
        Assert.Empty(await store.ReadFeedAsync(5, 100));
        Assert.Equal(4, await store.GetFeedHeadAsync());
    }

    [Fact]
    public async Task Reader_positions_and_snapshots_are_kept()
    {
        var store = await NewStoreAsync();
        Assert.Equal(0, await store.GetCheckpointAsync("catalog"));
        await store.SaveCheckpointAsync("catalog", 41);
        await store.SaveCheckpointAsync("catalog", 42);
        Assert.Equal(42, await store.GetCheckpointAsync("catalog"));

        Assert.Null(await store.ReadSnapshotAsync("model/s"));
        await store.SaveSnapshotAsync(new StreamSnapshot("model/s", 10, 1, "ten"));
        await store.SaveSnapshotAsync(new StreamSnapshot("model/s", 5, 1, "five"));   // older: ignored
        Assert.Equal(new StreamSnapshot("model/s", 10, 1, "ten"), await store.ReadSnapshotAsync("model/s"));
        var big = new string('x', 70_000);
        await store.SaveSnapshotAsync(new StreamSnapshot("model/s", 11, 2, big));
        Assert.Equal(new StreamSnapshot("model/s", 11, 2, big), await store.ReadSnapshotAsync("model/s"));
    }

    [Fact]
    public async Task Bad_appends_are_refused_with_their_rule()
    {
        var store = await NewStoreAsync();
        var again = Event("A");
        await store.AppendAsync("model/c", 0, [again]);

        Assert.Contains("is already stored", (await Assert.ThrowsAsync<ArgumentException>(() => store.AppendAsync("model/d", 0, [Event("B"), again]))).Message);
        Assert.Contains("at least one event", (await Assert.ThrowsAsync<ArgumentException>(() => store.AppendAsync("model/d", 0, []))).Message);
        Assert.Contains("at most 32 events", (await Assert.ThrowsAsync<ArgumentException>(() => store.AppendAsync("model/d", 0, Enumerable.Range(0, 33).Select(_ => Event("E")).ToList()))).Message);
        Assert.Empty(await store.ReadStreamAsync("model/d"));
        Assert.Equal(1, await store.GetFeedHeadAsync());
    }

    [Fact, Trait("Category", "Slow")]
    public async Task Ten_thousand_events_in_one_stream_read_back_whole_and_in_order()
    {
        var store = await NewStoreAsync();
        var ids = new List<Guid>();
        for (long version = 0; version < 10_000; version += 25)
        {
            var batch = Enumerable.Range(0, 25).Select(i => Event("Tick", $$"""{"n":{{version + i}}}""")).ToList();
            ids.AddRange(batch.Select(e => e.Id));
            await store.AppendAsync("device/busy", version, batch);
        }

        var events = await store.ReadStreamAsync("device/busy");
        Assert.Equal(10_000, events.Count);
        Assert.Equal(Enumerable.Range(1, 10_000).Select(v => (long)v), events.Select(e => e.Version));
        Assert.Equal(ids, events.Select(e => e.Id));
        Assert.Equal($$"""{"n":9999}""", events[^1].Data);
        Assert.Equal(10_000, (await store.ReadFeedAsync(1, 20_000)).Count);
    }

    [Fact]
    public async Task Two_writers_racing_on_one_stream_each_win_distinct_versions_and_lose_nothing()
    {
        var store = await NewStoreAsync();
        const int perWriter = 60;
        async Task<List<Guid>> WriterAsync(string name)
        {
            var written = new List<Guid>();
            while (written.Count < perWriter)
            {
                var head = (await store.ReadStreamAsync("model/raced")).Count;
                var e = Event(name);
                try
                {
                    await store.AppendAsync("model/raced", head, [e]);
                    written.Add(e.Id);
                }
                catch (EventStreamConflictException)
                {
                    // The other writer took this version; read again and retry.
                }
            }
            return written;
        }
        // Another stream's writer races for the feed positions at the same time.
        var other = Task.Run(async () =>
        {
            for (var i = 0; i < perWriter; i++) await store.AppendAsync("model/other", i, [Event("other")]);
        });

        var results = await Task.WhenAll(Task.Run(() => WriterAsync("one")), Task.Run(() => WriterAsync("two")));
        await other;

        var events = await store.ReadStreamAsync("model/raced");
        Assert.Equal(Enumerable.Range(1, 2 * perWriter).Select(v => (long)v), events.Select(e => e.Version));
        Assert.Equal(results.SelectMany(r => r).Order(), events.Select(e => e.Id).Order());
        var feed = await store.ReadFeedAsync(1, 1000);
        Assert.Equal(Enumerable.Range(1, 3 * perWriter).Select(p => (long)p), feed.Select(e => e.Position));
        Assert.Equal(feed.Count, feed.Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public async Task Concurrent_appends_to_many_streams_all_land_and_a_stale_one_among_them_fails_alone()
    {
        // The SQLite store commits waiting writes together (group commit); each must still succeed or fail on its own.
        var store = await NewStoreAsync();
        await store.AppendAsync("model/stale", 0, [Event("first")]);
        var appends = Enumerable.Range(0, 64).Select(i => Task.Run(() => store.AppendAsync($"model/many-{i}", 0, [Event("A"), Event("B")]))).ToList();
        var stale = Task.Run(() => store.AppendAsync("model/stale", 0, [Event("late")]));
        var checkpoint = Task.Run(() => store.SaveCheckpointAsync("reader/many", 7));

        var stored = await Task.WhenAll(appends);
        await Assert.ThrowsAsync<EventStreamConflictException>(() => stale);
        await checkpoint;

        Assert.All(stored, s => Assert.Equal([1L, 2], s.Select(e => e.Version)));
        Assert.Equal(129, await store.GetFeedHeadAsync());
        Assert.Equal(Enumerable.Range(1, 129).Select(p => (long)p), (await store.ReadFeedAsync(1, 1000)).Select(e => e.Position));
        Assert.Equal(["first"], (await store.ReadStreamAsync("model/stale")).Select(e => e.Type));
        Assert.Equal(7, await store.GetCheckpointAsync("reader/many"));
    }
}
