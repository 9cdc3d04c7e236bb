using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Tensors;
using Mesh.Edge.Configuration;
using Mesh.Edge.Outbox;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Tests.Edge;

/// <summary>
/// The bridge's durable outbox on a real SQLite file: sequence numbers in commit order and never reused, the
/// overflow policies, the age limit on a fake clock, and what an acknowledgement forgets.
/// </summary>
public sealed class ResultOutboxTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mesh-tests", "outbox-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

    private ResultOutbox Open(Action<OutboxOptions>? configure = null)
    {
        var options = new EdgeBridgeOptions { DeviceId = "cam-1", DataDirectory = _data };
        configure?.Invoke(options.Outbox);
        return new ResultOutbox(Microsoft.Extensions.Options.Options.Create(options), NullLogger<ResultOutbox>.Instance, _clock);
    }

    private DeviceResult Result(float value) =>
        new(0, "mlp", 1, _clock.GetUtcNow(), "edge", null, [NamedTensor.Create("y", [1, 1], new[] { value })]);

    [Fact]
    public async Task Sequence_numbers_follow_commit_order_and_are_never_reused_across_restarts()
    {
        await using (var outbox = Open())
        {
            var sequences = await Task.WhenAll(Enumerable.Range(1, 5).Select(i => outbox.AppendAsync(Result(i))));
            Assert.Equal([1L, 2, 3, 4, 5], sequences.Order());
            var (pending, _) = outbox.ReadBatch(10);
            Assert.Equal([1L, 2, 3, 4, 5], pending.Select(p => p.Sequence));
            await outbox.AcknowledgeAsync(5, []);
            Assert.Equal(0, outbox.Depth);
        }
        // Every row was synced and deleted: the next number still follows the last one ever given.
        await using (var reopened = Open())
        {
            Assert.Equal(5, reopened.LastSequence);
            Assert.Equal(6, await reopened.AppendAsync(Result(6)));
        }
    }

    [Fact]
    public async Task Results_survive_a_restart_until_acknowledged_and_an_acknowledgement_forgets_only_what_it_names()
    {
        await using (var outbox = Open())
            for (var i = 1; i <= 4; i++) await outbox.AppendAsync(Result(i));
        await using var reopened = Open();
        Assert.Equal(4, reopened.Depth);
        await reopened.AcknowledgeAsync(2, []);
        var (pending, lost) = reopened.ReadBatch(10);
        Assert.Equal([3L, 4], pending.Select(p => p.Sequence));
        Assert.Equal([3f, 4f], pending.Select(p => p.Decode().Outputs[0].AsSpan<float>()[0]));
        Assert.Empty(lost);
        Assert.Equal(2, reopened.Depth);
    }

    [Fact]
    public async Task Drop_oldest_past_the_limit_records_the_dropped_numbers_as_lost_ranges_until_they_are_declared()
    {
        await using var outbox = Open(o => (o.MaxResults, o.Overflow) = (3, OutboxOverflow.DropOldest));
        for (var i = 1; i <= 5; i++) await outbox.AppendAsync(Result(i));

        var (pending, lost) = outbox.ReadBatch(10);
        Assert.Equal([3L, 4, 5], pending.Select(p => p.Sequence));
        // One range per commit that dropped (here each commit dropped one): together exactly the numbers gone.
        Assert.Equal([1L, 2], lost.SelectMany(l => Enumerable.Range((int)l.From, (int)(l.To - l.From + 1)).Select(n => (long)n)).Order());
        Assert.All(lost, l => Assert.Contains("MaxResults = 3", l.Reason));
        Assert.Equal(2, outbox.LostTotal);

        await outbox.AcknowledgeAsync(5, lost);
        Assert.Empty(outbox.ReadBatch(10).Lost);
        Assert.Equal(0, outbox.Depth);
    }

    [Fact]
    public async Task Refuse_past_the_limit_turns_results_away_and_loses_nothing()
    {
        await using var outbox = Open(o => (o.MaxResults, o.Overflow) = (2, OutboxOverflow.Refuse));
        await outbox.AppendAsync(Result(1));
        await outbox.AppendAsync(Result(2));
        // Refused synchronously, before anything is written.
        var full = Assert.Throws<OutboxFullException>(() => { _ = outbox.AppendAsync(Result(3)); });
        Assert.Contains("Mesh:Edge:Outbox:MaxResults = 2", full.Message);
        Assert.Equal(0, outbox.LostTotal);

        await outbox.AcknowledgeAsync(1, []);
        Assert.Equal(3, await outbox.AppendAsync(Result(3)));
    }

    [Fact]
    public async Task Results_older_than_the_age_limit_on_the_clock_are_dropped_as_lost_at_the_next_commit()
    {
        await using var outbox = Open(o => o.MaxAge = TimeSpan.FromHours(1));
        await outbox.AppendAsync(Result(1));
        await outbox.AppendAsync(Result(2));
        _clock.Advance(TimeSpan.FromMinutes(59));
        await outbox.AppendAsync(Result(3));
        Assert.Equal(0, outbox.LostTotal);

        _clock.Advance(TimeSpan.FromMinutes(2));
        await outbox.AppendAsync(Result(4));
        var (pending, lost) = outbox.ReadBatch(10);
        Assert.Equal([3L, 4], pending.Select(p => p.Sequence));
        var range = Assert.Single(lost);
        Assert.Equal((1L, 2L), (range.From, range.To));
        Assert.Contains("MaxAge", range.Reason);
    }

    [Theory]
    [InlineData(OutboxDurability.Normal)]   // the appender commits on its own thread
    [InlineData(OutboxDurability.Full)]     // commits are handed to a pool thread
    public async Task Appends_racing_each_other_and_acknowledgements_all_commit_each_with_its_own_number(OutboxDurability durability)
    {
        await using var outbox = Open(o => o.Durability = durability);
        using var stop = new CancellationTokenSource();
        // Acknowledgements hold the writer too; a result queued meanwhile must still be committed when they let go.
        var acknowledging = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested) await outbox.AcknowledgeAsync(outbox.LastSequence / 2, []);
        });
        var appended = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            var mine = new List<long>();
            for (var i = 0; i < 250; i++) mine.Add(await outbox.AppendAsync(Result(i)).WaitAsync(TimeSpan.FromSeconds(30)));
            return mine;
        })));
        stop.Cancel();
        await acknowledging;
        Assert.Equal(Enumerable.Range(1, 2000).Select(i => (long)i), appended.SelectMany(m => m).Order());
        // Each appender's own results were committed in the order it made them.
        Assert.All(appended, mine => Assert.Equal(mine.Order(), mine));
    }

    [Fact]
    public async Task A_row_is_kept_in_the_sync_form_with_its_tensor_as_bytes_and_a_batch_carries_it_unchanged()
    {
        await using var outbox = Open();
        var trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        await outbox.AppendAsync(Result(0.1f) with { TraceParent = trace });
        var pending = Assert.Single(outbox.ReadBatch(10).Results);
        Assert.Equal(trace, pending.TraceParent);
        var row = System.Text.Encoding.UTF8.GetString(pending.Row.Span);
        // The float's bytes, base64: exact bits, not decimal text.
        Assert.Contains($"\"data_base64\":\"{Convert.ToBase64String(BitConverter.GetBytes(0.1f))}\"", row);
        Assert.DoesNotContain("\"data\":", row);

        var body = Mesh.Protocol.DeviceSyncJson.WriteBatch([pending.Row]);
        Assert.Contains(row, System.Text.Encoding.UTF8.GetString(body));
        var read = Assert.Single(Mesh.Protocol.DeviceSyncJson.ReadBatch(body).Results);
        Assert.Equal((1L, 0.1f, trace), (read.Sequence, read.Outputs[0].AsSpan<float>()[0], read.TraceParent));
    }

    [Fact]
    public async Task Rows_left_by_the_previous_format_are_rewritten_at_open_and_still_sync()
    {
        // An outbox as a bridge of schema 1 left it: each row the JSON of its record, no trace column.
        Directory.CreateDirectory(_data);
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_data, "outbox.db")};Pooling=False"))
        {
            old.Open();
            using var create = old.CreateCommand();
            create.CommandText = """
                CREATE TABLE results(seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, body TEXT NOT NULL);
                CREATE TABLE lost(from_seq INTEGER PRIMARY KEY, to_seq INTEGER NOT NULL, reason TEXT NOT NULL);
                CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT INTO meta VALUES ('last_seq', 7);
                INSERT INTO results VALUES (7, 0, '{"sequence":7,"model":"mlp","version":2,"at":"2026-12-01T12:00:00+00:00","origin":"edge","outputs":[{"name":"y","elementType":"Float32","shape":[1,1],"data":"AACAPw=="}]}');
                """;
            create.ExecuteNonQuery();
        }

        await using var outbox = Open();
        var pending = Assert.Single(outbox.ReadBatch(10).Results);
        Assert.Contains("data_base64", System.Text.Encoding.UTF8.GetString(pending.Row.Span));
        var result = pending.Decode();
        Assert.Equal((7L, "mlp", 2, 1f), (result.Sequence, result.Model, result.Version, result.Outputs[0].AsSpan<float>()[0]));
        Assert.Equal(8, await outbox.AppendAsync(Result(8)));
    }

    public void Dispose()
    {
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }
}
