using Azure.Data.Tables;
using Mesh.Grains.Events;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.Storage.Azure;

namespace Mesh.IntegrationTests.EventStore;

[Trait("Category", "Integration")]
public sealed class SqliteEventStoreTests : EventStoreContract, IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mesh-events-" + Guid.NewGuid().ToString("N"));

    protected override Task<IEventStore> NewStoreAsync() => Task.FromResult<IEventStore>(new SqliteEventStore(_folder, $"events-{Guid.NewGuid():N}.db"));

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_folder, recursive: true); } catch (DirectoryNotFoundException) { }
    }
}

[Collection(AzuriteCollection.Name), Trait("Category", "Integration"), Trait("Category", "Azure")]
public sealed class AzureTableEventStoreTests(Azurite azurite) : EventStoreContract
{
    protected override Task<IEventStore> NewStoreAsync() =>
        Task.FromResult<IEventStore>(new AzureTableEventStore(new TableServiceClient(azurite.ConnectionString).GetTableClient("events" + Guid.NewGuid().ToString("N")[..12])));
}
