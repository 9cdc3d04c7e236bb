using System.Collections.Concurrent;
using System.Text.Json;
using Mesh.Abstractions.Grains;
using Mesh.Protocol;
using Mesh.Edge.Configuration;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Mesh.Edge.Outbox;

/// <summary>The outbox is full and the overflow policy is to refuse: the predict was not answered, nothing was lost.</summary>
public sealed class OutboxFullException(long depth, long max)
    : Exception($"the outbox holds {depth} unsynced results, its limit (Mesh:Edge:Outbox:MaxResults = {max}); the overflow policy Refuse turns predicts away until sync makes room");

/// <summary>
/// A result waiting in the outbox, as the sync reads it: its row is already in the sync batch's form
/// (<see cref="DeviceSyncJson.WriteResult"/>), so sending it copies bytes and converts nothing.
/// </summary>
public sealed record PendingResult(long Sequence, string? TraceParent, ReadOnlyMemory<byte> Row)
{
    /// <summary>The result the row holds (for checks and tools; the sync never needs it).</summary>
    public DeviceResult Decode() => DeviceSyncJson.ReadResult(Row);
}

/// <summary>
/// Every result the device produced, kept in SQLite until the mesh has it. A result is committed (WAL,
/// synchronous=FULL: it survives a power cut) before its caller gets the answer. Concurrent results share one
/// commit (group commit), so durability costs one fsync per group rather than per result. Sequence numbers are
/// given in commit order and never reused, also across restarts. Bounded by count and age; what the overflow
/// policy drops is recorded as a lost range, which sync declares to the mesh.
/// </summary>
public sealed class ResultOutbox : IAsyncDisposable
{
    private const int MaxGroup = 512;
    private readonly EdgeBridgeOptions _options;
    private readonly ILogger<ResultOutbox> _logger;
    private readonly TimeProvider _clock;
    private readonly SqliteConnection _writer;
    // Prepared once on the writer connection and reused by every commit: SQLite compiles their SQL one time.
    private readonly SqliteCommand _insert;
    private readonly SqliteCommand _setMeta;
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly ConcurrentQueue<(DeviceResult Result, TaskCompletionSource<long> Done)> _pending = new();
    private volatile bool _disposed;
    private long _lastSequence;
    private long _depth;
    private long _lostTotal;
    private DateTimeOffset _nextAgeCheck;

    /// <param name="clock">Judges <see cref="OutboxOptions.MaxAge"/> (the system clock unless a test gives its own).</param>
    public ResultOutbox(IOptions<EdgeBridgeOptions> options, ILogger<ResultOutbox> logger, TimeProvider? clock = null)
    {
        (_options, _logger, _clock) = (options.Value, logger, clock ?? TimeProvider.System);
        Directory.CreateDirectory(_options.FullDataDirectory);
        Path = System.IO.Path.Combine(_options.FullDataDirectory, "outbox.db");
        _writer = Open();
        Execute(_writer, """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS results(seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, body BLOB NOT NULL, traceparent TEXT);
            CREATE TABLE IF NOT EXISTS lost(from_seq INTEGER PRIMARY KEY, to_seq INTEGER NOT NULL, reason TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            """);
        UpgradeRows();
        // The last number ever given: the newest row's, or, once rows were deleted, what the delete kept in meta.
        _lastSequence = Math.Max(Scalar(_writer, "SELECT value FROM meta WHERE key = 'last_seq'"), Scalar(_writer, "SELECT MAX(seq) FROM results"));
        _depth = Scalar(_writer, "SELECT COUNT(*) FROM results");
        // Read back from SQLite (read once: from here on the writer connection is used only by whoever holds _write).
        Synchronous = Scalar(_writer, "PRAGMA synchronous") switch { 2 => "FULL", 1 => "NORMAL", var other => other.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        _lostTotal = Scalar(_writer, "SELECT value FROM meta WHERE key = 'lost_total'");
        _insert = _writer.CreateCommand();
        _insert.CommandText = "INSERT INTO results(seq, at_ms, body, traceparent) VALUES ($seq, $at, $body, $trace)";
        _insert.Parameters.Add("$seq", SqliteType.Integer);
        _insert.Parameters.Add("$at", SqliteType.Integer);
        _insert.Parameters.Add("$body", SqliteType.Blob);
        _insert.Parameters.Add("$trace", SqliteType.Text);
        _setMeta = _writer.CreateCommand();
        _setMeta.CommandText = "INSERT INTO meta(key, value) VALUES ($key, $value) ON CONFLICT(key) DO UPDATE SET value = excluded.value";
        _setMeta.Parameters.Add("$key", SqliteType.Text);
        _setMeta.Parameters.Add("$value", SqliteType.Integer);
    }

    public string Path { get; }

    /// <summary>The SQLite synchronous setting in force (FULL or NORMAL, from Mesh:Edge:Outbox:Durability).</summary>
    public string Synchronous { get; }

    /// <summary>Results held, not yet acknowledged by the mesh.</summary>
    public long Depth => Interlocked.Read(ref _depth);

    /// <summary>The last sequence number given.</summary>
    public long LastSequence => Interlocked.Read(ref _lastSequence);

    /// <summary>Results dropped unsynced (overflow or age) since the outbox was created.</summary>
    public long LostTotal => Interlocked.Read(ref _lostTotal);

    /// <summary>Stores a result durably and returns its sequence number; only then may the caller be answered.</summary>
    /// <remarks>
    /// Group commit with a leader: whoever finds the writer free commits everything waiting, while the others only
    /// queue and wait for it. With <c>Durability=Normal</c> a commit takes about 10 us here, less than the two
    /// thread hops of handing it over, so the appender commits on its own thread. With <c>Full</c> a commit waits
    /// for the disk (hundreds of us), so it is handed to a pool thread: a caller that issues many appends without
    /// awaiting each (a JSON lines pipe) keeps queueing meanwhile, and one fsync carries them all.
    /// </remarks>
    public Task<long> AppendAsync(DeviceResult result)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_options.Outbox.Overflow == OutboxOverflow.Refuse && Depth >= _options.Outbox.MaxResults)
            throw new OutboxFullException(Depth, _options.Outbox.MaxResults);
        var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending.Enqueue((result, done));
        Lead();
        // Disposed meanwhile: what no commit took is refused, never left waiting.
        if (_disposed) Fail(new ObjectDisposedException(nameof(ResultOutbox)));
        return done.Task;
    }

    private int _leaderQueued;

    private void Lead()
    {
        if (_options.Outbox.Durability != OutboxDurability.Full)
        {
            LeadHere();
            return;
        }
        if (Interlocked.CompareExchange(ref _leaderQueued, 1, 0) != 0) return;
        ThreadPool.UnsafeQueueUserWorkItem(static outbox =>
        {
            // Cleared before leading: a result queued from here on queues another leader or is seen by this one.
            Volatile.Write(ref outbox._leaderQueued, 0);
            outbox.LeadHere();
        }, this, preferLocal: false);
    }

    // Whoever releases the writer looks again: a result queued while the writer was busy is never left behind.
    private void LeadHere()
    {
        while (!_pending.IsEmpty && !_disposed && _write.Wait(0))
        {
            try { CommitPending(); }
            finally { _write.Release(); }
        }
    }

    private void CommitPending()
    {
        var group = new List<(DeviceResult Result, TaskCompletionSource<long> Done)>(MaxGroup);
        while (true)
        {
            group.Clear();
            while (group.Count < MaxGroup && _pending.TryDequeue(out var item)) group.Add(item);
            if (group.Count == 0) return;
            try
            {
                var sequences = Commit(group);
                for (var i = 0; i < group.Count; i++) group[i].Done.TrySetResult(sequences[i]);
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Outbox commit of {Count} results failed; their predicts fail", group.Count);
                foreach (var (_, done) in group) done.TrySetException(e);
            }
        }
    }

    private void Fail(Exception e)
    {
        while (_pending.TryDequeue(out var item)) item.Done.TrySetException(e);
    }

    // The caller holds the writer.
    private long[] Commit(List<(DeviceResult Result, TaskCompletionSource<long> Done)> group)
    {
        using var transaction = _writer.BeginTransaction();
        var sequences = new long[group.Count];
        _insert.Transaction = transaction;
        var (seq, at, body, trace) = (_insert.Parameters[0], _insert.Parameters[1], _insert.Parameters[2], _insert.Parameters[3]);
        var next = _lastSequence;
        for (var i = 0; i < group.Count; i++)
        {
            var result = group[i].Result;
            sequences[i] = ++next;
            seq.Value = next;
            at.Value = result.At.ToUnixTimeMilliseconds();
            body.Value = DeviceSyncJson.WriteResult(result with { Sequence = next });
            trace.Value = (object?)result.TraceParent ?? DBNull.Value;
            _insert.ExecuteNonQuery();
        }
        var dropped = DropOverflow(transaction, Depth + group.Count);
        // The last number given must outlive its row; only a delete can take the row, so only deletes record it
        // (a commit that deletes nothing leaves MAX(seq) to say it, and writes one page less).
        if (dropped > 0) SetMeta(transaction, "last_seq", next);
        transaction.Commit();
        Interlocked.Exchange(ref _lastSequence, sequences[^1]);
        Interlocked.Add(ref _depth, group.Count - dropped);
        return sequences;
    }

    // Inside the commit's transaction: the drop and the lost range are durable together.
    private long DropOverflow(SqliteTransaction transaction, long depth)
    {
        long dropped = 0;
        var now = _clock.GetUtcNow();
        if (now >= _nextAgeCheck)
        {
            _nextAgeCheck = now.AddSeconds(10);
            var cutoff = (now - _options.Outbox.MaxAge).ToUnixTimeMilliseconds();
            var oldEnd = Scalar(_writer, $"SELECT COALESCE(MAX(seq), 0) FROM results WHERE at_ms < {cutoff}", transaction);
            if (oldEnd > 0) dropped += DropThrough(transaction, oldEnd, $"older than Mesh:Edge:Outbox:MaxAge ({_options.Outbox.MaxAge})");
        }
        var excess = depth - dropped - _options.Outbox.MaxResults;
        if (excess > 0 && _options.Outbox.Overflow == OutboxOverflow.DropOldest)
        {
            var end = Scalar(_writer, $"SELECT seq FROM results ORDER BY seq LIMIT 1 OFFSET {excess - 1}", transaction);
            dropped += DropThrough(transaction, end, $"outbox full (Mesh:Edge:Outbox:MaxResults = {_options.Outbox.MaxResults}), oldest dropped");
        }
        return dropped;
    }

    private long DropThrough(SqliteTransaction transaction, long end, string reason)
    {
        var start = Scalar(_writer, "SELECT MIN(seq) FROM results", transaction);
        var count = Scalar(_writer, $"SELECT COUNT(*) FROM results WHERE seq <= {end}", transaction);
        Execute(_writer, $"DELETE FROM results WHERE seq <= {end}", transaction);
        // One range per drop: the numbers between start and end that were still here (synced ones are gone already).
        using (var lost = _writer.CreateCommand())
        {
            lost.Transaction = transaction;
            lost.CommandText = "INSERT INTO lost(from_seq, to_seq, reason) VALUES ($from, $to, $reason) ON CONFLICT(from_seq) DO UPDATE SET to_seq = MAX(to_seq, excluded.to_seq)";
            lost.Parameters.AddWithValue("$from", start);
            lost.Parameters.AddWithValue("$to", end);
            lost.Parameters.AddWithValue("$reason", reason);
            lost.ExecuteNonQuery();
        }
        var total = Interlocked.Add(ref _lostTotal, count);
        SetMeta(transaction, "lost_total", total);
        _logger.LogWarning("Outbox dropped {Count} unsynced results ({From}-{To}): {Reason}; {Total} lost in all", count, start, end, reason, total);
        return count;
    }

    /// <summary>The oldest results waiting (at most <paramref name="limit"/>) and every lost range not yet declared.</summary>
    public (PendingResult[] Results, LostResults[] Lost) ReadBatch(int limit)
    {
        using var reader = Open();
        var results = new List<PendingResult>(limit);
        using (var command = reader.CreateCommand())
        {
            command.CommandText = $"SELECT seq, body, traceparent FROM results ORDER BY seq LIMIT {limit}";
            using var rows = command.ExecuteReader();
            while (rows.Read())
                results.Add(new PendingResult(rows.GetInt64(0), rows.IsDBNull(2) ? null : rows.GetString(2), (byte[])rows.GetValue(1)));
        }
        var lost = new List<LostResults>();
        using (var command = reader.CreateCommand())
        {
            command.CommandText = "SELECT from_seq, to_seq, reason FROM lost ORDER BY from_seq";
            using var rows = command.ExecuteReader();
            while (rows.Read()) lost.Add(new LostResults(rows.GetInt64(0), rows.GetInt64(1), rows.GetString(2)));
        }
        return (results.ToArray(), lost.ToArray());
    }

    /// <summary>Forgets what the mesh acknowledged: results up to <paramref name="through"/> and the declared lost ranges.</summary>
    public async Task AcknowledgeAsync(long through, IReadOnlyList<LostResults> declared)
    {
        await _write.WaitAsync();
        try
        {
            using var transaction = _writer.BeginTransaction();
            var removed = Scalar(_writer, $"SELECT COUNT(*) FROM results WHERE seq <= {through}", transaction);
            Execute(_writer, $"DELETE FROM results WHERE seq <= {through}", transaction);
            foreach (var range in declared) Execute(_writer, $"DELETE FROM lost WHERE from_seq = {range.From} AND to_seq <= {range.To}", transaction);
            if (through > 0) SetMeta(transaction, "synced_through", through);
            if (removed > 0 || declared.Count > 0) SetMeta(transaction, "last_seq", Interlocked.Read(ref _lastSequence));
            transaction.Commit();
            Interlocked.Add(ref _depth, -removed);
        }
        finally
        {
            _write.Release();
        }
        Lead();
    }

    // Schema 1 (user_version 0) kept each result as the JSON of its record. Rows left unsynced by a bridge of
    // that version are rewritten once, in one transaction, into the sync form that schema 2 keeps.
    private const long RowSchema = 2;

    private void UpgradeRows()
    {
        if (Scalar(_writer, "PRAGMA user_version") >= RowSchema) return;
        using var transaction = _writer.BeginTransaction();
        var columns = new List<string>();
        using (var info = _writer.CreateCommand())
        {
            info.Transaction = transaction;
            info.CommandText = "SELECT name FROM pragma_table_info('results')";
            using var reader = info.ExecuteReader();
            while (reader.Read()) columns.Add(reader.GetString(0));
        }
        if (!columns.Contains("traceparent")) Execute(_writer, "ALTER TABLE results ADD COLUMN traceparent TEXT", transaction);
        var old = new List<(long Seq, string Body)>();
        using (var read = _writer.CreateCommand())
        {
            read.Transaction = transaction;
            read.CommandText = "SELECT seq, body FROM results WHERE typeof(body) = 'text' ORDER BY seq";
            using var reader = read.ExecuteReader();
            while (reader.Read()) old.Add((reader.GetInt64(0), reader.GetString(1)));
        }
        using (var update = _writer.CreateCommand())
        {
            update.Transaction = transaction;
            update.CommandText = "UPDATE results SET body = $body, traceparent = $trace WHERE seq = $seq";
            var (seq, body, trace) = (update.Parameters.Add("$seq", SqliteType.Integer), update.Parameters.Add("$body", SqliteType.Blob), update.Parameters.Add("$trace", SqliteType.Text));
            foreach (var (number, json) in old)
            {
                var result = JsonSerializer.Deserialize(json, OutboxJson.Default.DeviceResult)!;
                (seq.Value, body.Value, trace.Value) = (number, DeviceSyncJson.WriteResult(result with { Sequence = number }), (object?)result.TraceParent ?? DBNull.Value);
                update.ExecuteNonQuery();
            }
        }
        Execute(_writer, $"PRAGMA user_version = {RowSchema}", transaction);
        transaction.Commit();
        if (old.Count > 0) _logger.LogInformation("Outbox rows of the previous format rewritten: {Count}", old.Count);
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        connection.Open();
        // FULL: a commit is on disk (the WAL fsynced) before it returns; NORMAL could lose the last commits on power loss.
        var synchronous = _options.Outbox.Durability == OutboxDurability.Full ? "FULL" : "NORMAL";
        Execute(connection, $"PRAGMA synchronous={synchronous}; PRAGMA busy_timeout=5000;");
        return connection;
    }

    private void SetMeta(SqliteTransaction transaction, string key, long value)
    {
        _setMeta.Transaction = transaction;
        (_setMeta.Parameters[0].Value, _setMeta.Parameters[1].Value) = (key, value);
        _setMeta.ExecuteNonQuery();
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command.ExecuteScalar() is long value ? value : 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        // Kept: after the last commit nothing may use the connection.
        await _write.WaitAsync();
        CommitPending();
        Fail(new ObjectDisposedException(nameof(ResultOutbox)));
        _insert.Dispose();
        _setMeta.Dispose();
        _writer.Dispose();
    }
}
