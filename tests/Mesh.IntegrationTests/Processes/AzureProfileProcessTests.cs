using System.Collections.Concurrent;
using System.Diagnostics;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Mesh.Abstractions.Inference;
using Mesh.Client;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Mesh.Storage.Azure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

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

    private MeshProcess StartSilo() => StartSilo(_siloPort, _gatewayPort, _httpPort);

    private MeshProcess StartSilo(int siloPort, int gatewayPort, int httpPort)
    {
        var data = Path.Combine(Path.GetTempPath(), "mesh-tests", "azure-" + Guid.NewGuid().ToString("N"));
        _folders.Add(data);
        return MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [], new Dictionary<string, string>
        {
            ["Mesh__Storage__AzureConnectionString"] = azurite.ConnectionString,
            ["Mesh__Storage__DataDirectory"] = data,
            ["Mesh__Silo__ServiceId"] = _service,
            ["Mesh__Silo__ClusterId"] = "west",
            ["Mesh__Silo__SiloPort"] = siloPort.ToString(),
            ["Mesh__Silo__GatewayPort"] = gatewayPort.ToString(),
            ["Mesh__Silo__DeploySampleModel"] = "false",
            ["Mesh__Gateway__HttpPort"] = httpPort.ToString(),
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

    [Fact]
    public async Task A_client_whose_gateway_silo_dies_has_its_calls_in_flight_answered_or_failed_within_a_second()
    {
        // Two silos of one cluster (membership in Azure Table on Azurite); one plain MeshClient knows both gateways.
        var secondGateway = MeshProcess.FreePort();
        await using var first = StartSilo();
        await first.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
        await using var second = StartSilo(MeshProcess.FreePort(), secondGateway, MeshProcess.FreePort());
        await second.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
        Assert.Equal(0, (await Mesh("deploy", "both", TestModels.PathOf("mlp-small.onnx"))).ExitCode);

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.AddMeshClient(o => (o.Gateways, o.ClusterId, o.ClientId) = ([$"127.0.0.1:{_gatewayPort}", $"127.0.0.1:{secondGateway}"], "west", "test-two-gateways"));
        using var host = builder.Build();
        await host.StartAsync();
        var mesh = host.Services.GetRequiredService<MeshClient>();
        await mesh.PredictAsync(new PredictRequest("both", [TestModels.MlpInput(1)]));

        var clock = Stopwatch.StartNew();
        var calls = new ConcurrentQueue<(TimeSpan Started, TimeSpan Ended, string? Error)>();
        using var stop = new CancellationTokenSource();
        var callers = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var started = clock.Elapsed;
                string? error = null;
                try { await mesh.PredictAsync(new PredictRequest("both", [TestModels.MlpInput(1)])); }
                catch (Exception e) { error = $"{e.GetType().Name}: {e.Message}"; }
                calls.Enqueue((started, clock.Elapsed, error));
                if (error is not null) await Task.Delay(20);
            }
        })).ToArray();
        await Task.Delay(1000);
        var killedAt = clock.Elapsed;
        await first.DisposeAsync();
        await Task.Delay(TimeSpan.FromSeconds(8));
        stop.Cancel();
        await Task.WhenAll(callers);

        var inFlight = calls.Where(c => c.Started < killedAt && c.Ended > killedAt).ToList();
        var slowest = inFlight.Select(c => c.Ended - killedAt).DefaultIfEmpty().Max();
        var report = $"{inFlight.Count} calls in flight at the kill, the last ended {slowest.TotalMilliseconds:F0} ms after it; " +
                     $"{calls.Count(c => c.Error is not null)} of {calls.Count} calls failed: {string.Join(" | ", calls.Where(c => c.Error is not null).Select(c => c.Error).Distinct().Take(3))}";
        Assert.True(slowest < TimeSpan.FromSeconds(1), report);
        // A call made while the cluster settles may be routed to the dead silo; it is sent again after a second
        // (Mesh:Client:SettlingAttemptTimeout), not left to the 10 s response timeout.
        var longest = calls.Where(c => c.Started >= killedAt).Select(c => c.Ended - c.Started).DefaultIfEmpty().Max();
        Assert.True(longest < TimeSpan.FromSeconds(3.5), $"the longest call after the kill took {longest.TotalMilliseconds:F0} ms; " + report);
        // Calls may fail fast (OrleansMessageRejectionException) until membership declares the dead silo dead; then
        // the survivor serves every predict.
        var served = Stopwatch.StartNew();
        var succeeded = 0;
        while (succeeded < 50 && served.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                await mesh.PredictAsync(new PredictRequest("both", [TestModels.MlpInput(1)]));
                succeeded++;
            }
            catch (Exception) when (served.Elapsed < TimeSpan.FromSeconds(50))
            {
                succeeded = 0;
                await Task.Delay(100);
            }
        }
        Assert.True(succeeded == 50, report);
        Assert.Equal(0, await second.TerminateAsync(TimeSpan.FromSeconds(30)));
    }

    public void Dispose()
    {
        foreach (var folder in _folders)
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
