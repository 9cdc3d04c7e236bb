using Microsoft.Data.Sqlite;

namespace Mesh.Grains.Storage;

/// <summary>How the embedded stores open their SQLite files: pooled, waiting up to 30 s for a lock, durable at commit.</summary>
internal static class SqliteFiles
{
    public static string ConnectionString(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Pooling = true,
        DefaultTimeout = 30,
    }.ToString();

    /// <summary>An open connection with <c>synchronous = FULL</c>: what is committed survives power loss.</summary>
    public static async Task<SqliteConnection> OpenAsync(string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync();
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA synchronous = FULL;";
        await pragma.ExecuteNonQueryAsync();
        return connection;
    }
}
