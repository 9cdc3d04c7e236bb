using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Grains.Configuration;
using Mesh.Grains.Storage;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Events;

/// <summary>
/// The embedded event store: one SQLite file (WAL) in the silo's data folder. The feed position is the table's
/// rowid. Writes go through one writer loop that commits whatever is waiting as one transaction (group commit):
/// each write in it is a savepoint, so a write that fails (a stale version) is undone alone, and one fsync makes
/// them all durable. The transaction takes the write lock first (BEGIN IMMEDIATE), so positions are handed out in
/// commit order with no gaps, and a stream's version check and its inserts happen under the same lock.
/// </summary>
public sealed class SqliteEventStore : IEventStore
{
    private readonly string _connectionString;
    private readonly string _directory;
    private readonly Lazy<Task> _initialized;
    private readonly SemaphoreSlim _writes;
    private readonly Channel<PendingWrite> _pending = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lazy<Task> _writer;

    // Enough to take a burst in one commit, few enough that the first writer of a batch does not wait long on the last.
    private const int MaxWritesPerCommit = 256;

    private sealed record PendingWrite(Func<SqliteConnection, Task<object?>> Write, TaskCompletionSource<object?> Done, CancellationToken Cancellation);

    public SqliteEventStore(IOptions<StorageOptions> options) : this(options.Value.FullDataDirectory) { }

    public SqliteEventStore(string directory, string file = "events.db")
    {
        _directory = directory;
        _connectionString = SqliteFiles.ConnectionString(Path.Combine(directory, file));
        _initialized = new Lazy<Task>(InitializeAsync);
        _writes = SqliteFiles.WriteGate(_connectionString);
        _writer = new Lazy<Task>(() => Task.Run(WriteLoopAsync));
    }

    private async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        await using var connection = await OpenAsync(initialize: false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS events (
                position  INTEGER PRIMARY KEY AUTOINCREMENT,
                id        TEXT NOT NULL UNIQUE,
                stream    TEXT NOT NULL,
                version   INTEGER NOT NULL,
                type      TEXT NOT NULL,
                schema    INTEGER NOT NULL,
                timestamp INTEGER NOT NULL,
                actor     TEXT NOT NULL,
                region    TEXT NOT NULL,
                data      TEXT NOT NULL,
                hlc       INTEGER NOT NULL DEFAULT 0,
                trace     TEXT NULL,
                UNIQUE (stream, version)
            );
            CREATE TABLE IF NOT EXISTS checkpoints (reader TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS snapshots (stream TEXT PRIMARY KEY, version INTEGER NOT NULL, schema INTEGER NOT NULL, data TEXT NOT NULL) WITHOUT ROWID;
            """;
        await command.ExecuteNonQueryAsync();
        // Stores made before events carried a clock stamp or a trace context get the columns (old events read as
        // 0 and none).
        await AddColumnIfMissingAsync(connection, "hlc", "INTEGER NOT NULL DEFAULT 0");
        await AddColumnIfMissingAsync(connection, "trace", "TEXT NULL");
    }

    private static async Task AddColumnIfMissingAsync(SqliteConnection connection, string column, string definition)
    {
        await using var columns = connection.CreateCommand();
        columns.CommandText = "SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = $column;";
        columns.Parameters.AddWithValue("$column", column);
        if ((long)(await columns.ExecuteScalarAsync())! > 0) return;
        await using var alter = connection.CreateCommand();
        alter.CommandText = $"ALTER TABLE events ADD COLUMN {column} {definition};";
        await alter.ExecuteNonQueryAsync();
    }

    private async Task<SqliteConnection> OpenAsync(bool initialize = true)
    {
        if (initialize) await _initialized.Value;
        return await SqliteFiles.OpenAsync(_connectionString);
    }

    private async Task<T> WriteAsync<T>(Func<SqliteConnection, Task<T>> write, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        var done = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = _writer.Value;
        await _pending.Writer.WriteAsync(new PendingWrite(async connection => await write(connection), done, cancellation), cancellation);
        return (T)(await done.Task)!;
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<PendingWrite>();
        while (await _pending.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < MaxWritesPerCommit && _pending.Reader.TryRead(out var write)) batch.Add(write);
            try
            {
                await CommitAsync(batch);
            }
            catch (Exception e)
            {
                // Nothing of this batch is stored (the transaction did not commit): each writer hears why.
                foreach (var write in batch) write.Done.TrySetException(e);
            }
        }
    }

    private async Task CommitAsync(List<PendingWrite> batch)
    {
        await _initialized.Value;
        // Another store object on the same file in this process (tests open a second one) waits here, not in SQLite.
        await _writes.WaitAsync();
        try
        {
            await using var connection = await OpenAsync();
            await ExecuteAsync(connection, "BEGIN IMMEDIATE;");
            var results = new object?[batch.Count];
            var errors = new Exception?[batch.Count];
            try
            {
                for (var i = 0; i < batch.Count; i++)
                {
                    if (batch[i].Cancellation.IsCancellationRequested)
                    {
                        errors[i] = new OperationCanceledException(batch[i].Cancellation);
                        continue;
                    }
                    await ExecuteAsync(connection, "SAVEPOINT write;");
                    try
                    {
                        results[i] = await batch[i].Write(connection);
                        await ExecuteAsync(connection, "RELEASE write;");
                    }
                    catch (Exception e)
                    {
                        await ExecuteAsync(connection, "ROLLBACK TO write; RELEASE write;");
                        errors[i] = e;
                    }
                }
                await ExecuteAsync(connection, "COMMIT;");
            }
            catch
            {
                await ExecuteAsync(connection, "ROLLBACK;");
                throw;
            }
            // Only now is any of it durable, so only now does any writer hear of it.
            for (var i = 0; i < batch.Count; i++)
            {
                if (errors[i] is { } error) batch[i].Done.TrySetException(error);
                else batch[i].Done.TrySetResult(results[i]);
            }
        }
        finally
        {
            _writes.Release();
        }
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(CancellationToken.None);
    }

    public async Task<IReadOnlyList<EventEnvelope>> AppendAsync(string stream, long expectedVersion, IReadOnlyList<EventData> events, CancellationToken cancellation = default)
    {
        EventStoreRules.CheckAppend(stream, expectedVersion, events);
        return await WriteAsync(connection => AppendAsync(connection, stream, expectedVersion, events), cancellation);
    }

    // Runs inside the writer loop's transaction, as one savepoint.
    private static async Task<IReadOnlyList<EventEnvelope>> AppendAsync(SqliteConnection connection, string stream, long expectedVersion, IReadOnlyList<EventData> events)
    {
        await using var head = connection.CreateCommand();
        head.CommandText = "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = $stream;";
        head.Parameters.AddWithValue("$stream", stream);
        var actual = (long)(await head.ExecuteScalarAsync())!;
        if (actual != expectedVersion)
            throw new EventStreamConflictException(stream, expectedVersion, actual);

        var stored = new List<EventEnvelope>(events.Count);
        await using var insert = connection.CreateCommand();
        insert.CommandText = """
            INSERT INTO events (id, stream, version, type, schema, timestamp, actor, region, data, hlc, trace)
            VALUES ($id, $stream, $version, $type, $schema, $timestamp, $actor, $region, $data, $hlc, $trace)
            RETURNING position;
            """;
        var parameters = new[] { "$id", "$stream", "$version", "$type", "$schema", "$timestamp", "$actor", "$region", "$data", "$hlc", "$trace" }
            .Select(name => insert.Parameters.Add(name, SqliteType.Text)).ToArray();
        var version = expectedVersion;
        foreach (var e in events)
        {
            version++;
            parameters[0].Value = e.Id.ToString("N");
            parameters[1].Value = stream;
            parameters[2].Value = version;
            parameters[3].Value = e.Type;
            parameters[4].Value = e.SchemaVersion;
            parameters[5].Value = e.Timestamp.ToUnixTimeMilliseconds();
            parameters[6].Value = e.Actor;
            parameters[7].Value = e.Region;
            parameters[8].Value = e.Data;
            parameters[9].Value = e.Hlc;
            parameters[10].Value = (object?)e.TraceParent ?? DBNull.Value;
            long position;
            try
            {
                position = (long)(await insert.ExecuteScalarAsync())!;
            }
            catch (SqliteException ex) when (ex.SqliteErrorCode == 19 && ex.Message.Contains("events.id", StringComparison.Ordinal))
            {
                throw new ArgumentException($"event stream '{stream}': event id {e.Id} is already stored; nothing was appended", nameof(events), ex);
            }
            stored.Add(new EventEnvelope(e.Id, stream, version, position, e.Type, e.SchemaVersion,
                DateTimeOffset.FromUnixTimeMilliseconds(e.Timestamp.ToUnixTimeMilliseconds()), e.Actor, e.Region, e.Data, e.Hlc, e.TraceParent));
        }
        return stored;
    }

    public Task<IReadOnlyList<EventEnvelope>> ReadStreamAsync(string stream, long fromVersion = 1, int maxCount = int.MaxValue, CancellationToken cancellation = default)
    {
        EventStoreRules.CheckStream(stream);
        return QueryAsync("WHERE stream = $key AND version >= $from ORDER BY version LIMIT $max", stream, fromVersion, maxCount, cancellation);
    }

    public Task<IReadOnlyList<EventEnvelope>> ReadFeedAsync(long fromPosition, int maxCount, CancellationToken cancellation = default) =>
        QueryAsync("WHERE position >= $from ORDER BY position LIMIT $max", null, fromPosition, maxCount, cancellation);

    private async Task<IReadOnlyList<EventEnvelope>> QueryAsync(string where, string? key, long from, int max, CancellationToken cancellation)
    {
        await using var connection = await OpenAsync();
        await using var query = connection.CreateCommand();
        query.CommandText = $"SELECT id, stream, version, position, type, schema, timestamp, actor, region, data, hlc, trace FROM events {where};";
        if (key is not null) query.Parameters.AddWithValue("$key", key);
        query.Parameters.AddWithValue("$from", from);
        query.Parameters.AddWithValue("$max", max);
        await using var reader = await query.ExecuteReaderAsync(cancellation);
        var result = new List<EventEnvelope>();
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new EventEnvelope(
                Guid.ParseExact(reader.GetString(0), "N"), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3),
                reader.GetString(4), reader.GetInt32(5), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
                reader.GetString(7), reader.GetString(8), reader.GetString(9), reader.GetInt64(10), reader.IsDBNull(11) ? null : reader.GetString(11)));
        }
        return result;
    }

    public async Task<long> GetStreamVersionAsync(string stream, CancellationToken cancellation = default)
    {
        await using var connection = await OpenAsync();
        await using var query = connection.CreateCommand();
        query.CommandText = "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = $stream;";
        query.Parameters.AddWithValue("$stream", stream);
        return (long)(await query.ExecuteScalarAsync(cancellation))!;
    }

    public async Task<bool> ContainsAsync(Guid id, CancellationToken cancellation = default)
    {
        await using var connection = await OpenAsync();
        await using var query = connection.CreateCommand();
        query.CommandText = "SELECT 1 FROM events WHERE id = $id;";
        query.Parameters.AddWithValue("$id", id.ToString("N"));
        return await query.ExecuteScalarAsync(cancellation) is not null;
    }

    public async Task<long> GetFeedHeadAsync(CancellationToken cancellation = default)
    {
        await using var connection = await OpenAsync();
        await using var query = connection.CreateCommand();
        query.CommandText = "SELECT COALESCE(MAX(position), 0) FROM events;";
        return (long)(await query.ExecuteScalarAsync(cancellation))!;
    }

    public async Task<long> GetCheckpointAsync(string reader, CancellationToken cancellation = default)
    {
        await using var connection = await OpenAsync();
        await using var query = connection.CreateCommand();
        query.CommandText = "SELECT position FROM checkpoints WHERE reader = $reader;";
        query.Parameters.AddWithValue("$reader", reader);
        return await query.ExecuteScalarAsync(cancellation) is long position ? position : 0;
    }

    public Task SaveCheckpointAsync(string reader, long position, CancellationToken cancellation = default) =>
        WriteAsync(async connection =>
        {
            await using var upsert = connection.CreateCommand();
            upsert.CommandText = "INSERT INTO checkpoints (reader, position) VALUES ($reader, $position) ON CONFLICT (reader) DO UPDATE SET position = excluded.position;";
            upsert.Parameters.AddWithValue("$reader", reader);
            upsert.Parameters.AddWithValue("$position", position);
            return await upsert.ExecuteNonQueryAsync(CancellationToken.None);
        }, cancellation);

    public async Task<StreamSnapshot?> ReadSnapshotAsync(string stream, CancellationToken cancellation = default)
    {
        await using var connection = await OpenAsync();
        await using var query = connection.CreateCommand();
        query.CommandText = "SELECT version, schema, data FROM snapshots WHERE stream = $stream;";
        query.Parameters.AddWithValue("$stream", stream);
        await using var reader = await query.ExecuteReaderAsync(cancellation);
        return await reader.ReadAsync(cancellation) ? new StreamSnapshot(stream, reader.GetInt64(0), reader.GetInt32(1), reader.GetString(2)) : null;
    }

    public Task SaveSnapshotAsync(StreamSnapshot snapshot, CancellationToken cancellation = default) =>
        WriteAsync(async connection =>
        {
            await using var upsert = connection.CreateCommand();
            upsert.CommandText = """
                INSERT INTO snapshots (stream, version, schema, data) VALUES ($stream, $version, $schema, $data)
                ON CONFLICT (stream) DO UPDATE SET version = excluded.version, schema = excluded.schema, data = excluded.data
                WHERE excluded.version > snapshots.version;
                """;
            upsert.Parameters.AddWithValue("$stream", snapshot.Stream);
            upsert.Parameters.AddWithValue("$version", snapshot.Version);
            upsert.Parameters.AddWithValue("$schema", snapshot.SchemaVersion);
            upsert.Parameters.AddWithValue("$data", snapshot.Data);
            return await upsert.ExecuteNonQueryAsync(CancellationToken.None);
        }, cancellation);
}
