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
    private const int LagModels = 16;
    private const int LagRuns = 3;

    private static string LagModel(int model) => $"lag-{model}";

    private const int Kills = 5;
    private const int Callers = 16;
    private static readonly TimeSpan Hedge = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan AfterKill = TimeSpan.FromSeconds(10);

    public static async Task<string> RunAsync(TimeSpan duration)
    {
        var east = new Region("east");
        var west = new Region("west");
        var eastSilo = east.Start(west);
        using var westSilo = west.Start(east);
        await Task.WhenAll(eastSilo.WaitForAsync("Mesh silo ready:", TimeSpan.FromSeconds(60)), westSilo.WaitForAsync("Mesh silo ready:", TimeSpan.FromSeconds(60)));
        using var westHost = await west.ConnectAsync();
        var westMesh = westHost.Services.GetRequiredService<MeshClient>();
        // The deploying client is closed when done. Left open, it would be a second Orleans client in this process
        // reacting to the first kill's lost connection, on the cores the failover needs (it made that kill's slowest
        // predict about 20 ms slower here).
        using (var eastHost = await east.ConnectAsync())
        {
            var eastMesh = eastHost.Services.GetRequiredService<MeshClient>();
            await eastMesh.DeployAsync("lag", MlpModel.Build());
            for (var model = 0; model < LagModels; model++) await eastMesh.DeployAsync(LagModel(model), MlpModel.Build());
            await eastHost.StopAsync();
        }
        foreach (var name in Enumerable.Range(0, LagModels).Select(LagModel).Append("lag"))
        {
            while (true)
            {
                try { await westMesh.GetModelAsync(name); break; }
                catch (ModelNotFoundException) { await Task.Delay(20); }
            }
        }
        // Active-active: west has served before the kills (its own callers, 2 s, not counted). A region that never
        // ran a predict would first compile its code and activate its grains for the traffic that fails over.
        var input = new[] { NamedTensor.Create(MlpModel.InputName, [1, 64], MlpModel.SampleInput(1)) };
        var warmUntil = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Callers).Select(_ => Task.Run(async () =>
        {
            while (warmUntil.Elapsed < TimeSpan.FromSeconds(2)) await westMesh.PredictAsync(new PredictRequest("lag", input));
        })));

        // Failover: sixteen callers through MeshRegions; east is killed (SIGKILL) and restarted, five times.
        var regionOptions = new MeshRegionsOptions { Regions = [east.Endpoint, west.Endpoint], HedgeDelay = Hedge, CallTimeout = TimeSpan.FromSeconds(2) };
        await using var regions = await MeshRegions.ConnectAsync(regionOptions);
        var served = new System.Collections.Concurrent.ConcurrentQueue<(double At, double Took, string Region)>();
        var failed = 0;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, Callers).Select(caller => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var started = clock.Elapsed.TotalMilliseconds;
                try
                {
                    var region = (await regions.PredictAsync(new PredictRequest("lag", input))).Region;
                    var now = clock.Elapsed.TotalMilliseconds;
                    served.Enqueue((now, now - started, region));
                }
                catch (Exception) { Interlocked.Increment(ref failed); }
            }
        })).ToList();
        var firstAnswer = new List<double>();
        var longestGap = new List<double>();
        var slowest = new List<double>();
        var westP99 = new List<double>();
        var exitAfterKill = new List<double>();
        for (var kill = 0; kill < Kills; kill++)
        {
            var since = clock.Elapsed.TotalMilliseconds;
            while (!served.Any(x => x.At > since && x.Region == "east")) await Task.Delay(10);
            await Task.Delay(500);
            var killedAt = clock.Elapsed.TotalMilliseconds;
            var exiting = Stopwatch.StartNew();
            eastSilo.Dispose();
            // The kernel frees a killed process's memory before it closes its sockets, on a core the survivors share here.
            exitAfterKill.Add(exiting.Elapsed.TotalMilliseconds);
            await Task.Delay(AfterKill);
            var after = served.Where(x => x.At > killedAt && x.At <= killedAt + AfterKill.TotalMilliseconds).ToArray();
            firstAnswer.Add(after.Where(x => x.Region == "west").Select(x => x.At - killedAt).DefaultIfEmpty(double.NaN).Min());
            var times = after.Select(x => x.At).Order().Prepend(killedAt).Append(killedAt + AfterKill.TotalMilliseconds).ToArray();
            longestGap.Add(times.Zip(times.Skip(1), (a, b) => b - a).Max());
            slowest.Add(after.Select(x => x.Took).DefaultIfEmpty(double.NaN).Max());
            var westTook = after.Where(x => x.Region == "west" && x.At > killedAt + 2000).Select(x => x.Took).Order().ToArray();
            westP99.Add(westTook.Length == 0 ? double.NaN : westTook[(int)(0.99 * (westTook.Length - 1))]);
            eastSilo = east.Start(west);
            await eastSilo.WaitForAsync("Mesh silo ready:", TimeSpan.FromSeconds(60));
        }
        stop.Cancel();
        await Task.WhenAll(load);

        // Lag, after the kills: the restarted east is a fresh client's, and the kills' predicts are not competing.
        using var eastAgainHost = await east.ConnectAsync();
        var eastAgain = eastAgainHost.Services.GetRequiredService<MeshClient>();
        // Warm-up, not reported: the first writes of a fresh silo run code that is not yet compiled at full speed.
        await LagAsync(eastAgain, westMesh, WritesPerSecond, TimeSpan.FromSeconds(2), 0);
        // Each rate a few times over: the tail moves from run to run with the machine's load.
        var lag100 = new List<(double[] Lags, int Writes, double Rate)>();
        var lag1000 = new List<(double[] Lags, int Writes, double Rate)>();
        for (var run = 0; run < LagRuns; run++)
        {
            lag100.Add(await LagAsync(eastAgain, westMesh, WritesPerSecond, duration, 100_000 * (2 * run + 1)));
            lag1000.Add(await LagAsync(eastAgain, westMesh, 10 * WritesPerSecond, duration, 100_000 * (2 * run + 2)));
        }

        eastSilo.Dispose();

        var report = new StringBuilder();
        report.AppendLine("## Regions (two regions on loopback, each its own silo process and storage)");
        report.AppendLine();
        report.AppendLine("| what | measured | target |");
        report.AppendLine("| --- | --- | --- |");
        report.AppendLine($"| replication lag, east write visible in west, {Spread.MinMedianMax(lag100.Select(r => r.Rate))} writes/s for {duration.TotalSeconds:F0} s, {LagRuns} runs | p50 {Spread.MinMedianMax(lag100.Select(r => P(r.Lags, 0.5)))} ms, p99 {Spread.MinMedianMax(lag100.Select(r => P(r.Lags, 0.99)))} ms, max {Spread.MinMedianMax(lag100.Select(r => P(r.Lags, 1)))} ms ({lag100.Sum(r => r.Lags.Length)} of {lag100.Sum(r => r.Writes)} seen) | p99 under 100 ms at 100 writes/s |");
        report.AppendLine($"| the same at {Spread.MinMedianMax(lag1000.Select(r => r.Rate))} writes/s (asked: {10 * WritesPerSecond}) | p50 {Spread.MinMedianMax(lag1000.Select(r => P(r.Lags, 0.5)))} ms, p99 {Spread.MinMedianMax(lag1000.Select(r => P(r.Lags, 0.99)))} ms, max {Spread.MinMedianMax(lag1000.Select(r => P(r.Lags, 1)))} ms ({lag1000.Sum(r => r.Lags.Length)} of {lag1000.Sum(r => r.Writes)} seen) | p99 under 1 s at 1,000 writes/s |");
        report.AppendLine($"| east SIGKILLed under {Callers} callers, {Kills} kills: first predict answered by west after the kill | {Spread.MinMedianMax(firstAnswer)} ms | under 250 ms in every run |");
        report.AppendLine($"| longest time without any answer in the {AfterKill.TotalSeconds:F0} s after each kill | {Spread.MinMedianMax(longestGap)} ms | under 1 s |");
        report.AppendLine($"| slowest predict in those {AfterKill.TotalSeconds:F0} s | {Spread.MinMedianMax(slowest)} ms | hedge delay ({Hedge.TotalMilliseconds:F0} ms) + west's p99 ({Spread.MinMedianMax(westP99)} ms) |");
        report.AppendLine($"| predicts that failed in all regions | {failed} of {served.Count + failed} | 0 |");
        report.AppendLine();
        report.AppendLine("Kill by kill, in order (first answer by west / longest gap / slowest predict / east's exit after SIGKILL, ms): " +
            string.Join("; ", Enumerable.Range(0, Kills).Select(k => $"{firstAnswer[k]:F0} / {longestGap[k]:F0} / {slowest[k]:F0} / {exitAfterKill[k]:F0}")) + ".");
        report.AppendLine("On Linux a killed process frees its memory before its sockets close (the exit time above), here on a core that the client and west share.");
        report.AppendLine($"Lag is measured end to end from the SDK: a policy write in east returns, then west is read until the value shows. Writes are spread over {LagModels} models, a writer each, after 2 s of writes that are not counted (warm-up).");
        report.AppendLine("An append wakes the region links at once; the 100 ms `Mesh:Regions:ReplicationInterval` is only the fallback.");
        report.AppendLine($"Lag and failover figures are min / median / max over the runs and the kills. MeshRegions runs with `HedgeDelay` {Hedge.TotalMilliseconds:F0} ms and `CallTimeout` 2 s;");
        report.AppendLine("west's p99 is of its answers from 2 s after each kill on. West served for 2 s (its own callers) before the kills.");
        report.AppendLine();
        Console.WriteLine(report);
        return report.ToString();
    }

    // Writes: policy changes, each with its own queue size, at a fixed rate (as fast as they go, if slower), spread
    // over LagModels models with a writer each: one model's writes are one grain's, each a durable commit, and a
    // region's write rate is many models'. Reads: west polled, every model at once, as fast as it answers.
    private static async Task<(double[] Lags, int Writes, double Rate)> LagAsync(MeshClient eastMesh, MeshClient westMesh, int perSecond, TimeSpan duration, int offset)
    {
        var writes = (int)(duration.TotalSeconds * perSecond);
        var written = new double[writes];
        var seen = new double[writes];
        Array.Fill(seen, double.NaN);
        var clock = Stopwatch.StartNew();
        var writers = Enumerable.Range(0, LagModels).Select(model => Task.Run(async () =>
        {
            for (var i = model; i < writes; i += LagModels)
            {
                var due = TimeSpan.FromSeconds((double)i / perSecond);
                if (clock.Elapsed < due) await Task.Delay(due - clock.Elapsed);
                await eastMesh.SetPolicyAsync(LagModel(model), new ServingPolicy(MaxQueueSize: 10_000 + offset + i));
                written[i] = clock.Elapsed.TotalMilliseconds;
            }
        })).ToArray();
        var newest = Enumerable.Range(0, LagModels).Select(model => model - LagModels).ToArray();
        var pollUntil = duration * 3 + TimeSpan.FromSeconds(10);
        while (Enumerable.Range(0, LagModels).Any(m => newest[m] + LagModels < writes) && clock.Elapsed < pollUntil)
        {
            // All models at once: one at a time, a round would take long enough to be most of what is measured.
            var values = await Task.WhenAll(Enumerable.Range(0, LagModels).Select(async model => (await westMesh.GetModelAsync(LagModel(model))).ServingPolicy.MaxQueueSize - 10_000 - offset));
            var now = clock.Elapsed.TotalMilliseconds;
            for (var model = 0; model < LagModels; model++)
            {
                var value = values[model];
                // Events of one stream arrive in order: seeing write v means every earlier write of that model has arrived.
                if (value < 0 || value % LagModels != model) continue;
                for (var j = newest[model] + LagModels; j <= Math.Min(value, writes - 1); j += LagModels) seen[j] = now;
                newest[model] = Math.Max(newest[model], value);
            }
        }
        await Task.WhenAll(writers);
        var took = written.Max() / 1000;
        return (Enumerable.Range(0, writes).Where(i => !double.IsNaN(seen[i])).Select(i => Math.Max(0, seen[i] - written[i])).Order().ToArray(), writes, writes / took);
    }

    private static double P(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * (sorted.Length - 1)))];

    private sealed class Region(string name)
    {
        public string Name { get; } = name;
        public int Gateway { get; } = ChildProcess.FreePort();
        public MeshRegionEndpoint Endpoint => new() { Name = Name, Gateways = [$"127.0.0.1:{Gateway}"] };

        // One data folder for the region's life: a silo restarted after a kill finds what it had and catches up.
        private readonly string _data = Path.Combine(Path.GetTempPath(), $"mesh-bench-{name}-{Guid.NewGuid():N}");

        public ChildProcess Start(Region peer) => new(Paths.Built("silos/Mesh.Silo", "Mesh.Silo.dll"), [], new Dictionary<string, string>
        {
            ["Mesh__Silo__ClusterId"] = Name,
            ["Mesh__Silo__SiloPort"] = ChildProcess.FreePort().ToString(),
            ["Mesh__Silo__GatewayPort"] = Gateway.ToString(),
            ["Mesh__Gateway__HttpPort"] = ChildProcess.FreePort().ToString(),
            ["Mesh__Gateway__GrpcPort"] = ChildProcess.FreePort().ToString(),
            ["Mesh__Storage__DataDirectory"] = _data,
            ["Mesh__Silo__DeploySampleModel"] = "false",
            ["Mesh__Regions__Peers__0__Name"] = peer.Name,
            ["Mesh__Regions__Peers__0__Gateway"] = $"127.0.0.1:{peer.Gateway}",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
        });

        public Task<IHost> ConnectAsync() => Suite.ConnectAsync(Gateway, Name);
    }
}
