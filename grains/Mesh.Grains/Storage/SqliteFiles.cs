using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Mesh.Grains.Storage;

/// <summary>How the embedded stores open their SQLite files: pooled, waiting up to 30 s for a lock, durable at commit.</summary>
internal static class SqliteFiles
{
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> WriteGates = new(StringComparer.Ordinal);

    public static string ConnectionString(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Pooling = true,
        DefaultTimeout = 30,
    }.ToString();

    /// <summary>
    /// The one writer at a time of a file in this process. SQLite lets one writer in; a second one that finds the
    /// lock taken makes Microsoft.Data.Sqlite sleep 150 ms on the calling thread before it tries again, which is what
    /// stretched replication's tail to hundreds of milliseconds. Waiting here costs only the other write's commit,
    /// and the wait is asynchronous, so no scheduler thread blocks.
    /// </summary>
    public static SemaphoreSlim WriteGate(string connectionString) => WriteGates.GetOrAdd(connectionString, _ => new SemaphoreSlim(1, 1));

    /// <summary>
    /// An open connection with <c>synchronous = FULL</c> (what is committed survives power loss) and SQLite's own
    /// busy wait, whose short steps serve a writer in another process (a test's second store on the same file).
    /// </summary>
    public static async Task<SqliteConnection> OpenAsync(string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync();
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 30000;";
        await pragma.ExecuteNonQueryAsync();
        return connection;
    }
}
