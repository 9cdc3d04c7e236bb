using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;
using Mesh.Client;
using Mesh.Edge.Configuration;
using Mesh.Edge.Outbox;
using Mesh.SampleModels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Mesh.Benchmarks;

/// <summary>
/// The edge bridge: how fast a full outbox drains to a silo on loopback, the bridge's memory with a million results
/// buffered (idle and under local load), and what a local predict costs over raw ONNX Runtime (the bridge answers
/// only after the result is on disk, so the difference includes the outbox's fsync).
/// </summary>
public static class EdgeBenchmark
{
    public static async Task<string> RunAsync(TimeSpan level, int buffered)
    {
        var root = Path.Combine(Path.GetTempPath(), $"mesh-bench-edge-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        try
        {
            return await RunAsync(level, buffered, root);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<string> RunAsync(TimeSpan level, int buffered, string root)
    {
        var (gateway, http) = (ChildProcess.FreePort(), ChildProcess.FreePort());
        using var silo = new ChildProcess(Paths.Built("silos/Mesh.Silo", "Mesh.Silo.dll"), [], new Dictionary<string, string>
        {
            ["Mesh__Silo__SiloPort"] = ChildProcess.FreePort().ToString(),
            ["Mesh__Silo__GatewayPort"] = gateway.ToString(),
            ["Mesh__Gateway__HttpPort"] = http.ToString(),
            ["Mesh__Gateway__GrpcPort"] = ChildProcess.FreePort().ToString(),
            ["Mesh__Storage__DataDirectory"] = Path.Combine(root, "silo"),
            ["Mesh__Silo__DeploySampleModel"] = "false",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
        });
        await silo.WaitForAsync("Mesh silo ready:", TimeSpan.FromSeconds(60));
        using var host = await Suite.ConnectAsync(gateway);
        var mesh = host.Services.GetRequiredService<MeshClient>();
        var token = (await mesh.RegisterDeviceAsync("bench-edge", new DeviceRegistration("local", ["mlp"]))).Token!;
        var modelFile = Path.Combine(root, "mlp.onnx");
        await File.WriteAllBytesAsync(modelFile, MlpModel.Build());
        var data = Path.Combine(root, "bridge");

        // A million results written through the bridge's own outbox (concurrent appends share commits).
        var fill = Stopwatch.StartNew();
        await FillAsync(data, buffered);
        var fillRate = buffered / fill.Elapsed.TotalSeconds;
        var dbMiB = new DirectoryInfo(data).EnumerateFiles().Sum(f => f.Length) / 1048576.0;

        Dictionary<string, string> Bridge(bool online, int port)
        {
            var settings = new Dictionary<string, string>
            {
                ["Mesh__Edge__DeviceId"] = "bench-edge",
                ["Mesh__Edge__DataDirectory"] = data,
                ["Mesh__Edge__HttpPort"] = port.ToString(),
                ["Mesh__Edge__Models__0__Name"] = "mlp",
                ["Mesh__Edge__Models__0__Path"] = modelFile,
                ["Mesh__Edge__Outbox__MaxResults"] = (buffered * 2).ToString(),
                ["Mesh__Edge__Sync__BatchSize"] = "2048",
                ["Logging__LogLevel__Default"] = "Warning",
            };
            if (online) (settings["Mesh__Edge__MeshUrl"], settings["Mesh__Edge__Token"]) = ($"http://127.0.0.1:{http}", token);
            return settings;
        }

        // Offline over the full outbox: memory idle and under local load, and local predict latency against raw ORT.
        double idleMiB, loadedMiB, bridgeP50, rawP50, loadRate;
        var port = ChildProcess.FreePort();
        using (var bridge = new ChildProcess(Paths.Built("edge-bridge/Mesh.EdgeBridge", "mesh-edge.dll"), [], Bridge(online: false, port)))
        {
            await bridge.WaitForAsync("Mesh edge bridge ready:", TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            var body = SampleBody;
            for (var i = 0; i < 200; i++) (await client.PostAsync("v2/models/mlp/infer", new StringContent(body))).EnsureSuccessStatusCode();
            await Task.Delay(2000);
            idleMiB = bridge.ResidentMiB();

            bridgeP50 = await LoneCallerP50Async(client, body, level);

            var served = 0;
            var loadClock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
            {
                while (loadClock.Elapsed < level)
                {
                    (await client.PostAsync("v2/models/mlp/infer", new StringContent(body))).EnsureSuccessStatusCode();
                    Interlocked.Increment(ref served);
                }
            })));
            loadRate = served / loadClock.Elapsed.TotalSeconds;
            loadedMiB = bridge.ResidentMiB();
            rawP50 = RawOnnxRuntime.Measure(await File.ReadAllBytesAsync(modelFile),
                rows => [NamedTensor.Create(MlpModel.InputName, [rows, 64], MlpModel.SampleInput(rows))], 1, level).P50Ms * 1000;
        }

        // Durability=Normal (no fsync per commit; a power cut may lose the last results) on an empty outbox: the
        // lone caller over TCP and over the Unix socket, and the memory of a bridge with just the MLP loaded.
        double normalP50, socketP50, liveP50, emptyIdleMiB, emptyLoadedMiB;
        port = ChildProcess.FreePort();
        var normal = Bridge(online: false, port);
        var normalData = Path.Combine(root, "bridge-normal");
        Directory.CreateDirectory(normalData);
        var socket = Path.Combine(normalData, "edge.sock");
        (normal["Mesh__Edge__DataDirectory"], normal["Mesh__Edge__Outbox__Durability"], normal["Mesh__Edge__LocalSocket"]) = (normalData, "Normal", socket);
        using (var bridge = new ChildProcess(Paths.Built("edge-bridge/Mesh.EdgeBridge", "mesh-edge.dll"), [], normal))
        {
            await bridge.WaitForAsync("Mesh edge bridge ready:", TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            using var overSocket = UnixSocketClient(socket);
            var body = SampleBody;
            for (var i = 0; i < 200; i++)
            {
                (await client.PostAsync("v2/models/mlp/infer", new StringContent(body))).EnsureSuccessStatusCode();
                (await overSocket.PostAsync("v2/models/mlp/infer", new StringContent(body))).EnsureSuccessStatusCode();
            }
            await Task.Delay(2000);
            emptyIdleMiB = bridge.ResidentMiB();
            normalP50 = await LoneCallerP50Async(client, body, level);
            socketP50 = await LoneCallerP50Async(overSocket, body, level);
            liveP50 = await LoneGetP50Async(client, "v2/health/live", level);
            var loadClock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
            {
                while (loadClock.Elapsed < level) (await client.PostAsync("v2/models/mlp/infer", new StringContent(body))).EnsureSuccessStatusCode();
            })));
            emptyLoadedMiB = bridge.ResidentMiB();
        }

        // Cold start: from exec until the local API answers, on a fresh data folder each time (the model loads at start).
        var coldStarts = new List<double>();
        for (var run = 0; run < ColdStarts; run++)
        {
            port = ChildProcess.FreePort();
            var cold = Bridge(online: false, port);
            (cold["Mesh__Edge__DataDirectory"], cold["Mesh__Edge__Outbox__Durability"]) = (Path.Combine(root, $"bridge-cold-{run}"), "Normal");
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
            var clock = Stopwatch.StartNew();
            using var bridge = new ChildProcess(Paths.Built("edge-bridge/Mesh.EdgeBridge", "mesh-edge.dll"), [], cold);
            while (clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                try
                {
                    using var answer = await client.GetAsync("v2/edge/status");
                    if (answer.IsSuccessStatusCode) break;
                }
                catch (HttpRequestException) { }
                await Task.Delay(1);
            }
            coldStarts.Add(clock.Elapsed.TotalMilliseconds);
        }
        var fsyncP50 = FsyncP50(root);
        // Where a local predict's time goes: the outbox append alone, through the bridge's outbox class.
        var appendFullP50 = await OutboxLoneAppendP50Async(Path.Combine(root, "append-full"), OutboxDurability.Full, level);
        var appendNormalP50 = await OutboxLoneAppendP50Async(Path.Combine(root, "append-normal"), OutboxDurability.Normal, level);
        var inProcessP50 = await InProcessP50Async(Path.Combine(root, "in-process"), modelFile, level);

        // Online: the whole outbox drains to the silo; results per second until it is empty (bounded).
        double drainRate;
        long drained;
        port = ChildProcess.FreePort();
        using (var bridge = new ChildProcess(Paths.Built("edge-bridge/Mesh.EdgeBridge", "mesh-edge.dll"), [], Bridge(online: true, port)))
        {
            await bridge.WaitForAsync("Mesh edge bridge ready:", TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            async Task<long> DepthAsync() => JsonDocument.Parse(await client.GetStringAsync("v2/edge/status")).RootElement.GetProperty("outbox_depth").GetInt64();
            var start = await DepthAsync();
            var clock = Stopwatch.StartNew();
            var depth = start;
            while (depth > 0 && clock.Elapsed < TimeSpan.FromMinutes(3))
            {
                await Task.Delay(250);
                depth = await DepthAsync();
            }
            drained = start - depth;
            drainRate = drained / clock.Elapsed.TotalSeconds;
        }
        var held = (await mesh.GetDeviceAsync("bench-edge")).Sync!;

        var report = new StringBuilder();
        report.AppendLine("## Edge bridge (bridge process and silo process on loopback, MLP model)");
        report.AppendLine();
        report.AppendLine("| what | measured | target |");
        report.AppendLine("| --- | --- | --- |");
        report.AppendLine($"| outbox drained to the mesh (batches of 2048, one device) | {drainRate:F0} results/s ({drained} results; the mesh holds {held.Results}, applied through {held.AppliedThrough}) | at least 20,000/s |");
        report.AppendLine($"| bridge resident memory, MLP loaded, empty outbox, idle | {emptyIdleMiB:F0} MiB | at most 40 MiB |");
        report.AppendLine($"| the same under 16 local callers | {emptyLoadedMiB:F0} MiB | at most 50 MiB |");
        report.AppendLine($"| bridge resident memory, {buffered:N0} results buffered ({dbMiB:F0} MiB on disk), idle | {idleMiB:F0} MiB | at most 80 MiB |");
        report.AppendLine($"| the same under local load (16 callers, {loadRate:F0} predicts/s) | {loadedMiB:F0} MiB | |");
        report.AppendLine($"| local predict p50 over HTTP, one caller, Durability=Full (result fsynced before the answer) | {bridgeP50:F0} us; raw ONNX Runtime {rawP50:F0} us; overhead {bridgeP50 - rawP50:F0} us | at most fsync p50 ({fsyncP50:F0} us) + 150 us |");
        report.AppendLine($"| the same with Mesh:Edge:Outbox:Durability=Normal, HTTP over TCP | {normalP50:F0} us; overhead {normalP50 - rawP50:F0} us | overhead at most 150 us |");
        report.AppendLine($"| the same over the Unix socket (Mesh:Edge:LocalSocket) | {socketP50:F0} us; overhead {socketP50 - rawP50:F0} us | overhead at most 100 us |");
        report.AppendLine($"| the same in process (MeshEdge, an application's own call, Durability=Normal) | {inProcessP50:F0} us; overhead {inProcessP50 - rawP50:F0} us | overhead at most 30 us |");
        report.AppendLine($"| cold start, exec until the local API answers, {ColdStarts} starts | {Spread.MinMedianMax(coldStarts)} ms | under 150 ms |");
        report.AppendLine($"| where the time goes: a bare GET /v2/health/live to the bridge (Kestrel and the client, no model, no outbox) | {liveP50:F0} us | |");
        report.AppendLine($"| where the time goes: one outbox append alone, lone caller, Full / Normal | {appendFullP50:F0} / {appendNormalP50:F0} us | |");
        var parts = RequestParts(level);
        report.AppendLine($"| where the time goes, in process, per predict: request JSON read / response JSON write / input digest / drift statistics | {parts.Read:F1} / {parts.Write:F1} / {parts.Digest:F1} / {parts.Drift:F1} us | |");
        report.AppendLine($"| outbox fill through the bridge's outbox class, concurrent appends | {fillRate:F0} results/s | |");
        report.AppendLine();
        Console.WriteLine(report);
        return report.ToString();
    }

    private static async Task FillAsync(string data, int count)
    {
        var options = Options.Create(new EdgeBridgeOptions { DeviceId = "bench-edge", DataDirectory = data, Outbox = new OutboxOptions { MaxResults = count * 2L } });
        await using var outbox = new ResultOutbox(options, NullLogger<ResultOutbox>.Instance);
        var outputs = new[] { NamedTensor.Create(MlpModel.OutputName, [1, 10], new float[10]) };
        var at = DateTimeOffset.UtcNow;
        const int InFlight = 2048;
        var pending = new List<Task<long>>(InFlight);
        for (var i = 0; i < count; i++)
        {
            pending.Add(outbox.AppendAsync(new DeviceResult(0, "mlp", 1, at, "edge", null, outputs)));
            if (pending.Count == InFlight)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }
        await Task.WhenAll(pending);
    }

    private const int ColdStarts = 5;

    private static HttpClient UnixSocketClient(string socket) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, cancellation) =>
        {
            var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await unix.ConnectAsync(new UnixDomainSocketEndPoint(socket), cancellation);
            return new NetworkStream(unix, ownsSocket: true);
        },
    }) { BaseAddress = new Uri("http://edge/") };

    // What one durable commit costs on this disk at least: 4 KiB written and fsynced, 200 times.
    private static double FsyncP50(string folder)
    {
        var path = Path.Combine(folder, "fsync-probe");
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        var block = new byte[4096];
        var latencies = new List<double>();
        for (var i = 0; i < 200; i++)
        {
            var one = Stopwatch.StartNew();
            file.Write(block);
            file.Flush(flushToDisk: true);
            latencies.Add(one.Elapsed.TotalMicroseconds);
        }
        return Percentile(latencies, 0.5);
    }

    private static readonly string SampleBody =
        $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", MlpModel.SampleInput(1).Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}}]}]}""";

    // One caller, closed loop: each predict is sent when the last one was answered.
    private static async Task<double> LoneCallerP50Async(HttpClient client, string body, TimeSpan level)
    {
        var latencies = new List<double>();
        var until = Stopwatch.StartNew();
        while (until.Elapsed < level)
        {
            var one = Stopwatch.StartNew();
            (await client.PostAsync("v2/models/mlp/infer", new StringContent(body))).EnsureSuccessStatusCode();
            latencies.Add(one.Elapsed.TotalMicroseconds);
        }
        return Percentile(latencies, 0.5);
    }

    // The bridge's own steps of a local predict, each timed alone on the sample request (mean of a bounded loop).
    private static (double Read, double Write, double Digest, double Drift) RequestParts(TimeSpan level)
    {
        var body = Encoding.UTF8.GetBytes(SampleBody);
        var (request, _) = InferenceJson.ReadRequest("mlp", null, body, ReadOnlyMemory<byte>.Empty);
        var response = new PredictResponse("mlp", 1, [NamedTensor.Create(MlpModel.OutputName, [1, 10], new float[10])], false, "edge:bench");
        var drift = new Mesh.Edge.Drift.DriftStatistics();
        double Mean(Action step)
        {
            for (var i = 0; i < 1000; i++) step();
            var count = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < level / 4 && count < 5_000_000)
            {
                step();
                count++;
            }
            return clock.Elapsed.TotalMicroseconds / count;
        }
        return (Mean(() => InferenceJson.ReadRequest("mlp", null, body, ReadOnlyMemory<byte>.Empty)),
            Mean(() => InferenceJson.WriteResponse(response, InferOptions.Default)),
            Mean(() => DeviceSyncJson.InputDigest(request.Inputs)),
            Mean(() => drift.Observe("mlp", request.Inputs)));
    }

    private static async Task<double> LoneGetP50Async(HttpClient client, string path, TimeSpan level)
    {
        var latencies = new List<double>();
        var until = Stopwatch.StartNew();
        while (until.Elapsed < level)
        {
            var one = Stopwatch.StartNew();
            (await client.GetAsync(path)).EnsureSuccessStatusCode();
            latencies.Add(one.Elapsed.TotalMicroseconds);
        }
        return Percentile(latencies, 0.5);
    }

    // The device runtime inside this process, offline: a lone caller's predicts through the local model and the outbox.
    private static async Task<double> InProcessP50Async(string data, string modelFile, TimeSpan level)
    {
        var options = new EdgeBridgeOptions
        {
            DeviceId = "bench-edge",
            DataDirectory = data,
            Models = [new EdgeModelOptions { Name = "mlp", Path = modelFile }],
            Outbox = new OutboxOptions { Durability = OutboxDurability.Normal },
        };
        await using var edge = await Mesh.Edge.MeshEdge.StartAsync(options);
        var request = new PredictRequest("mlp", [NamedTensor.Create(MlpModel.InputName, [1, 64], MlpModel.SampleInput(1))]);
        for (var i = 0; i < 1000; i++) await edge.PredictAsync(request);
        var latencies = new List<double>();
        var until = Stopwatch.StartNew();
        while (until.Elapsed < level)
        {
            var one = Stopwatch.StartNew();
            await edge.PredictAsync(request);
            latencies.Add(one.Elapsed.TotalMicroseconds);
        }
        return Percentile(latencies, 0.5);
    }

    private static async Task<double> OutboxLoneAppendP50Async(string data, OutboxDurability durability, TimeSpan level)
    {
        var options = Options.Create(new EdgeBridgeOptions { DeviceId = "bench-edge", DataDirectory = data, Outbox = new OutboxOptions { Durability = durability } });
        await using var outbox = new ResultOutbox(options, NullLogger<ResultOutbox>.Instance);
        var outputs = new[] { NamedTensor.Create(MlpModel.OutputName, [1, 10], new float[10]) };
        var latencies = new List<double>();
        var until = Stopwatch.StartNew();
        while (until.Elapsed < level)
        {
            var one = Stopwatch.StartNew();
            await outbox.AppendAsync(new DeviceResult(0, "mlp", 1, DateTimeOffset.UtcNow, "edge", null, outputs));
            latencies.Add(one.Elapsed.TotalMicroseconds);
        }
        return Percentile(latencies, 0.5);
    }

    private static double Percentile(List<double> values, double q)
    {
        values.Sort();
        return values.Count == 0 ? 0 : values[Math.Min(values.Count - 1, (int)(q * (values.Count - 1)))];
    }
}
