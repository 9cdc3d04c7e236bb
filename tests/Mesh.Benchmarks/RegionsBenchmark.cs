using System.Diagnostics;
using System.Globalization;
using System.Text;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;
using Mesh.Client;
using Mesh.SampleModels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mesh.Benchmarks;

/// <summary>
/// Two regions (east, west), each a silo process with its own storage, naming each other as peers. Measures how
/// long a write in east takes to be visible in west at a steady 100 writes a second, and how long predicts take to
/// move to west when east is killed under load.
/// </summary>
public static class RegionsBenchmark
{
    private const int WritesPerSecond = 100;

    public static async Task<string> RunAsync(TimeSpan duration)
    {
        var east = new Region("east");
        var west = new Region("west");
        using var eastSilo = east.Start(west);
        using var westSilo = west.Start(east);
        await Task.WhenAll(eastSilo.WaitForAsync("Mesh silo ready:", TimeSpan.FromSeconds(60)), westSilo.WaitForAsync("Mesh silo ready:", TimeSpan.FromSeconds(60)));
        using var eastHost = await east.ConnectAsync();
        using var westHost = await west.ConnectAsync();
        var eastMesh = eastHost.Services.GetRequiredService<MeshClient>();
        var westMesh = westHost.Services.GetRequiredService<MeshClient>();

        await eastMesh.DeployAsync("lag", MlpModel.Build());
        while (true)
        {
            try { await westMesh.GetModelAsync("lag"); break; }
            catch (ModelNotFoundException) { await Task.Delay(20); }
        }

        // Writes: policy changes, each with its own queue size, at a fixed rate. Reads: west polled as fast as it answers.
        var writes = (int)(duration.TotalSeconds * WritesPerSecond);
        var written = new double[writes];
        var seen = new double[writes];
        Array.Fill(seen, double.NaN);
        var clock = Stopwatch.StartNew();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < writes; i++)
            {
                var due = TimeSpan.FromSeconds((double)i / WritesPerSecond);
                if (clock.Elapsed < due) await Task.Delay(due - clock.Elapsed);
                await eastMesh.SetPolicyAsync("lag", new ServingPolicy(MaxQueueSize: 10_000 + i));
                written[i] = clock.Elapsed.TotalMilliseconds;
            }
        });
        var newest = -1;
        var pollUntil = duration + TimeSpan.FromSeconds(10);
        while (newest < writes - 1 && clock.Elapsed < pollUntil)
        {
            var value = (await westMesh.GetModelAsync("lag")).ServingPolicy.MaxQueueSize - 10_000;
            var now = clock.Elapsed.TotalMilliseconds;
            // Events of one stream arrive in order: seeing write v means every write up to v has arrived.
            for (var j = newest + 1; j <= Math.Min(value, writes - 1); j++) seen[j] = now;
            newest = Math.Max(newest, value);
        }
        await writer;
        var lags = Enumerable.Range(0, writes).Where(i => !double.IsNaN(seen[i])).Select(i => Math.Max(0, seen[i] - written[i])).Order().ToArray();

        // Failover: four callers through MeshRegions; east is killed; time to the first predict west answers.
        await using var regions = await MeshRegions.ConnectAsync(new MeshRegionsOptions
        {
            Regions = [east.Endpoint, west.Endpoint],
        });
        var input = new[] { NamedTensor.Create(MlpModel.InputName, [1, 64], MlpModel.SampleInput(1)) };
        var served = new System.Collections.Concurrent.ConcurrentQueue<(double At, string Region)>();
        var failed = 0;
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 4).Select(caller => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try { served.Enqueue((clock.Elapsed.TotalMilliseconds, (await regions.PredictAsync(new PredictRequest("lag", input))).Region)); }
                catch (Exception) { Interlocked.Increment(ref failed); }
            }
        })).ToList();
        while (!served.Any(s => s.Region == "east")) await Task.Delay(10);
        await Task.Delay(1000);
        var killedAt = clock.Elapsed.TotalMilliseconds;
        eastSilo.Dispose();
        var deadline = clock.Elapsed + TimeSpan.FromSeconds(30);
        while (!served.Any(s => s.At > killedAt && s.Region == "west") && clock.Elapsed < deadline) await Task.Delay(5);
        var movedAt = served.Where(s => s.At > killedAt && s.Region == "west").Select(s => s.At).DefaultIfEmpty(double.NaN).Min();
        await Task.Delay(1000);
        stop.Cancel();
        await Task.WhenAll(load);

        var report = new StringBuilder();
        report.AppendLine("## Regions (two regions on loopback, each its own silo process and storage)");
        report.AppendLine();
        report.AppendLine("| what | measured |");
        report.AppendLine("| --- | --- |");
        report.AppendLine($"| replication lag, east write visible in west, {WritesPerSecond} writes/s for {duration.TotalSeconds:F0} s | p50 {P(lags, 0.5)} ms, p99 {P(lags, 0.99)} ms, max {P(lags, 1)} ms ({lags.Length} of {writes} seen) |");
        report.AppendLine($"| east killed under 4 callers: time to the first predict answered by west | {movedAt - killedAt:F0} ms |");
        report.AppendLine($"| predicts that failed in all regions (beyond the one-try-per-region budget) | {failed} of {served.Count + failed} |");
        report.AppendLine();
        report.AppendLine("Lag is measured end to end from the SDK: a policy write in east returns, then west is read until the value shows.");
        report.AppendLine("It includes the link's 100 ms shipping interval (`Mesh:Regions:ReplicationInterval`).");
        report.AppendLine();
        Console.WriteLine(report);
        return report.ToString();
    }

    private static string P(double[] sorted, double q) =>
        sorted.Length == 0 ? "n/a" : sorted[Math.Min(sorted.Length - 1, (int)(q * (sorted.Length - 1)))].ToString("F0", CultureInfo.InvariantCulture);

    private sealed class Region(string name)
    {
        public string Name { get; } = name;
        public int Gateway { get; } = ChildProcess.FreePort();
        public MeshRegionEndpoint Endpoint => new() { Name = Name, Gateways = [$"127.0.0.1:{Gateway}"] };

        public ChildProcess Start(Region peer) => new(Paths.Built("silos/Mesh.Silo", "Mesh.Silo.dll"), [], new Dictionary<string, string>
        {
            ["Mesh__Silo__ClusterId"] = Name,
            ["Mesh__Silo__SiloPort"] = ChildProcess.FreePort().ToString(),
            ["Mesh__Silo__GatewayPort"] = Gateway.ToString(),
            ["Mesh__Gateway__HttpPort"] = ChildProcess.FreePort().ToString(),
            ["Mesh__Gateway__GrpcPort"] = ChildProcess.FreePort().ToString(),
            ["Mesh__Storage__DataDirectory"] = Path.Combine(Path.GetTempPath(), $"mesh-bench-{Name}-{Guid.NewGuid():N}"),
            ["Mesh__Silo__DeploySampleModel"] = "false",
            ["Mesh__Regions__Peers__0__Name"] = peer.Name,
            ["Mesh__Regions__Peers__0__Gateway"] = $"127.0.0.1:{peer.Gateway}",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
        });

        public Task<IHost> ConnectAsync() => Suite.ConnectAsync(Gateway, Name);
    }
}
