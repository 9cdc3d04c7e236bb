using System.Net;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Mesh.Abstractions.Events;
using Mesh.Grains.Events;
using Mesh.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Mesh.Storage.Azure;

/// <summary>
/// The production profile: everything a region keeps goes to one Azure Storage account. Clustering (silo
/// membership) and grain state in Tables, the event store in a Table, artifacts in Blobs, the event
/// announcements on Queues. One connection string switches all of it.
/// </summary>
public static class AzureStorageHosting
{
    public const string EventsTable = "MeshEvents";
    public const string MembershipTable = "MeshMembership";
    public const string GrainStateTable = "MeshGrainState";
    public const string ArtifactsContainer = "mesh-artifacts";

    public static ISiloBuilder AddMeshAzureStorage(this ISiloBuilder silo, string connectionString, string serviceId, IPAddress advertisedAddress, int siloPort, int gatewayPort)
    {
        var tables = new TableServiceClient(connectionString);
        silo.UseAzureStorageClustering(o =>
        {
            o.TableServiceClient = tables;
            o.TableName = MembershipTable;
        });
        silo.ConfigureEndpoints(advertisedAddress, siloPort, gatewayPort, listenOnAnyHostAddress: false);
        silo.AddAzureTableGrainStorage("PubSubStore", o =>
        {
            o.TableServiceClient = tables;
            o.TableName = GrainStateTable;
        });
        // Queue names are per service, so two meshes sharing an account do not read each other's announcements.
        var queuePrefix = new string(serviceId.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).ToArray());
        silo.AddAzureQueueStreams(EventFeed.StreamProvider, (OptionsBuilder<AzureQueueOptions> options) => options.Configure(o =>
        {
            o.QueueServiceClient = new QueueServiceClient(connectionString);
            o.QueueNames = Enumerable.Range(0, 4).Select(i => $"{queuePrefix}-events-{i}").ToList();
        }));

        var services = silo.Services;
        services.AddSingleton<IEventStore>(_ => new AzureTableEventStore(tables.GetTableClient(EventsTable)));
        services.AddSingleton<FileArtifactStore>();
        services.AddSingleton<IArtifactStore>(sp => new AzureBlobArtifactStore(
            new BlobServiceClient(connectionString).GetBlobContainerClient(ArtifactsContainer), sp.GetRequiredService<FileArtifactStore>()));
        return silo;
    }
}
