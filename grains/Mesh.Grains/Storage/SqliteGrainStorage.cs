using System.Globalization;
using Mesh.Grains.Configuration;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace Mesh.Grains.Storage;

/// <summary>
/// Orleans grain storage in a SQLite file under the data directory: the embedded default, nothing to install.
/// Each write checks the ETag it read (optimistic concurrency), so two activations of one grain, which Orleans
/// can briefly allow across silos, never overwrite each other silently. WAL mode lets several silos on one
/// machine share the file.
/// </summary>
public sealed class SqliteGrainStorage : IGrainStorage
{
    private readonly string _connectionString;
    private readonly IGrainStorageSerializer _serializer;
    private readonly Lazy<Task> _initialized;

    public SqliteGrainStorage(IOptions<StorageOptions> options, IGrainStorageSerializer serializer)
    {
        var directory = options.Value.FullDataDirectory;
        _connectionString = SqliteFiles.ConnectionString(Path.Combine(directory, "mesh.db"));
        _serializer = serializer;
        _initialized = new Lazy<Task>(() => InitializeAsync(directory));
    }

    private async Task InitializeAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        await using var connection = await OpenAsync(initialize: false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS grain_state (
                state_name TEXT NOT NULL,
                grain_id   TEXT NOT NULL,
                etag       INTEGER NOT NULL,
                data       BLOB NOT NULL,
                PRIMARY KEY (state_name, grain_id)
            ) WITHOUT ROWID;
            """;
        await command.ExecuteNonQueryAsync();
    }

    private async Task<SqliteConnection> OpenAsync(bool initialize = true)
    {
        if (initialize) await _initialized.Value;
        return await SqliteFiles.OpenAsync(_connectionString);
    }

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT etag, data FROM grain_state WHERE state_name = $name AND grain_id = $id";
        command.Parameters.AddWithValue("$name", stateName);
        command.Parameters.AddWithValue("$id", grainId.ToString());
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
            return;
        }
        grainState.ETag = reader.GetInt64(0).ToString(CultureInfo.InvariantCulture);
        grainState.State = _serializer.Deserialize<T>(new BinaryData((byte[])reader[1]));
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var data = _serializer.Serialize(grainState.State).ToArray();
        await OneWriterAsync(() => WriteLockedAsync(stateName, grainId, grainState, data));
    }

    // Writes of this file go one at a time in this process (SqliteFiles.WriteGate); reads do not wait (WAL).
    private async Task OneWriterAsync(Func<Task> write)
    {
        await _initialized.Value;
        var gate = SqliteFiles.WriteGate(_connectionString);
        await gate.WaitAsync();
        try
        {
            await write();
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task WriteLockedAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, byte[] data)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.Parameters.AddWithValue("$name", stateName);
        command.Parameters.AddWithValue("$id", grainId.ToString());
        command.Parameters.AddWithValue("$data", data);
        long next;
        if (grainState.ETag is null)
        {
            next = 1;
            command.CommandText = """
                INSERT INTO grain_state (state_name, grain_id, etag, data) VALUES ($name, $id, 1, $data)
                ON CONFLICT (state_name, grain_id) DO NOTHING
                """;
        }
        else
        {
            var current = long.Parse(grainState.ETag, CultureInfo.InvariantCulture);
            next = current + 1;
            command.CommandText = """
                UPDATE grain_state SET etag = $next, data = $data
                WHERE state_name = $name AND grain_id = $id AND etag = $etag
                """;
            command.Parameters.AddWithValue("$etag", current);
            command.Parameters.AddWithValue("$next", next);
        }

        if (await command.ExecuteNonQueryAsync() == 0)
            throw new InconsistentStateException($"grain state '{stateName}' of {grainId} was changed by another writer", "unknown", grainState.ETag ?? "none");
        grainState.ETag = next.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        OneWriterAsync(() => ClearLockedAsync(stateName, grainId, grainState));

    private async Task ClearLockedAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM grain_state WHERE state_name = $name AND grain_id = $id AND ($etag IS NULL OR etag = $etag)";
        command.Parameters.AddWithValue("$name", stateName);
        command.Parameters.AddWithValue("$id", grainId.ToString());
        command.Parameters.AddWithValue("$etag", grainState.ETag is null ? DBNull.Value : long.Parse(grainState.ETag, CultureInfo.InvariantCulture));
        await command.ExecuteNonQueryAsync();
        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
    }
}
