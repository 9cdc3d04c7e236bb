using System.Text.Json;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Mesh.Storage.Azure;

namespace Mesh.IntegrationTests.Processes;

/// <summary>
/// The silo with the production profile (one Azure Storage connection string) against a real Azurite: killed and
/// started again on an empty data folder, it gets everything back from Azure Storage.
/// </summary>
[Collection(AzuriteCollection.Name), Trait("Category", "Process"), Trait("Category", "Azure")]
public class AzureProfileProcessTests(Azurite azurite) : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly List<string> _folders = [];
    private readonly int _gatewayPort = MeshProcess.FreePort();
    private readonly int _siloPort = MeshProcess.FreePort();
    private readonly int _httpPort = MeshProcess.FreePort();
    private readonly string _service = "svc" + Guid.NewGuid().ToString("N")[..8];

    private MeshProcess StartSilo()
    {
        var data = Path.Combine(Path.GetTempPath(), "mesh-tests", "azure-" + Guid.NewGuid().ToString("N"));
        _folders.Add(data);
        return MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [], new Dictionary<string, string>
        {
            ["Mesh__Storage__AzureConnectionString"] = azurite.ConnectionString,
            ["Mesh__Storage__DataDirectory"] = data,
            ["Mesh__Silo__ServiceId"] = _service,
            ["Mesh__Silo__ClusterId"] = "west",
            ["Mesh__Silo__SiloPort"] = _siloPort.ToString(),
            ["Mesh__Silo__GatewayPort"] = _gatewayPort.ToString(),
            ["Mesh__Silo__DeploySampleModel"] = "false",
            ["Mesh__Gateway__HttpPort"] = _httpPort.ToString(),
            ["Mesh__Gateway__GrpcPort"] = MeshProcess.FreePort().ToString(),
        });
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> Mesh(params string[] args) =>
        MeshProcess.RunCliAsync([.. args, "--gateway", $"127.0.0.1:{_gatewayPort}", "--cluster", "west"]);

    [Fact]
    public async Task A_killed_silo_on_the_production_profile_comes_back_from_azure_storage_alone()
    {
        Directory.CreateDirectory(Path.GetTempPath());
        var v2 = Path.Combine(Path.GetTempPath(), $"mesh-azure-v2-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(v2, MlpModel.Build(new MlpModel.Options(Seed: 2)));
        string before;
        try
        {
            await using (var silo = StartSilo())
            {
                await silo.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
                var deploy = await Mesh("deploy", "life", TestModels.PathOf("mlp-small.onnx"));
                Assert.True(deploy.ExitCode == 0, deploy.Stderr + silo.Stdout);
                Assert.Equal(0, (await Mesh("deploy", "life", v2, "--no-default", "--parent", "1")).ExitCode);
                Assert.Equal(0, (await Mesh("traffic", "life", "v1=80", "v2=20")).ExitCode);
                Assert.Equal(0, (await Mesh("policy", "life", "--max-batch", "16")).ExitCode);
                before = (await Mesh("model", "life")).Stdout;
                Assert.Contains("traffic: v1=80% v2=20%", before);
            }

            // What went where: events in the Table, artifacts in the Blob container, membership in its Table.
            var events = new TableServiceClient(azurite.ConnectionString).GetTableClient(AzureStorageHosting.EventsTable);
            Assert.Contains(events.Query<TableEntity>(e => e.PartitionKey == "log"), e => e.GetString("Type") == "model.traffic-split-set");
            var blobs = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(AzureStorageHosting.ArtifactsContainer);
            Assert.True(blobs.GetBlobs().Count() >= 2);

            // A new data folder: nothing local survives, so all of it must come from Azure Storage.
            await using (var restarted = StartSilo())
            {
                await restarted.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
                var model = await Mesh("model", "life");
                Assert.True(model.ExitCode == 0, model.Stderr);
                Assert.Equal(before, model.Stdout);
                Assert.Contains("policy: max batch 16", model.Stdout);
                Assert.Contains("life", (await Mesh("models")).Stdout);

                Assert.Equal(["1", "2"], await MeshProcess.ServedVersionsAsync(_httpPort, "life", enough: 2));
                var audit = await Mesh("audit", "--model", "life");
                Assert.Matches(@"cli:\S+\s+west\s+model/life\s+traffic v1=80% v2=20%", audit.Stdout);
                Assert.Equal(0, await restarted.TerminateAsync(TimeSpan.FromSeconds(30)));
            }
        }
        finally
        {
            File.Delete(v2);
        }
    }

    public void Dispose()
    {
        foreach (var folder in _folders)
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
