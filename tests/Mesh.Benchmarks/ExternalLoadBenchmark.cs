using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Mesh.Abstractions.Inference;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;
using Mesh.Cli.Bench;
using Mesh.Client;
using Mesh.SampleModels;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Benchmarks;

/// <summary>
/// REST and gRPC under load generators that are not .NET: Debian's wrk (HTTP/1.1) and h2load (HTTP/2, for gRPC with
/// a pre-encoded request), against Mesh, against each transport's own floor on the same silo (a request that does no
/// inference: GET /v2/health/live, gRPC ServerLive) and against the plain per-request server, in the same run,
/// several runs a level, reported as min / median / max.
/// </summary>
public static partial class ExternalLoadBenchmark
{
    private static readonly int[] Connections = [1, 64, 256];

    public static async Task<string> RunAsync(TimeSpan duration, int runs = 3)
    {
        var text = new StringBuilder();
        text.AppendLine("## External load generators: wrk (REST) and h2load (gRPC), MLP single rows");
        text.AppendLine();
        if (!Installed("wrk") || !Installed("h2load"))
        {
            text.AppendLine("Not run: this needs Debian's `wrk` and `h2load` (`apt-get install wrk nghttp2-client`).");
            text.AppendLine();
            return text.ToString();
        }

        using var silo = Suite.StartSilo(out var gatewayPort, out var httpPort, out var grpcPort);
        await silo.WaitForAsync("Mesh silo ready:", TimeSpan.FromSeconds(60));
        using (var host = await Suite.ConnectAsync(gatewayPort))
            await host.Services.GetRequiredService<MeshClient>().DeployAsync("bench-mlp", MlpModel.Build());

        var plainPort = ChildProcess.FreePort();
        var modelPath = Path.Combine(Path.GetTempPath(), $"mesh-bench-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(modelPath, MlpModel.Build());
        using var plain = new ChildProcess(typeof(Suite).Assembly.Location, ["plain-server", plainPort.ToString(CultureInfo.InvariantCulture), modelPath], new Dictionary<string, string> { ["DOTNET_gcServer"] = "1" });
        await plain.WaitForAsync("plain server ready", TimeSpan.FromSeconds(60));

        var work = Directory.CreateTempSubdirectory("mesh-external-").FullName;
        var request = new PredictRequest("bench-mlp", [NamedTensor.Create(MlpModel.InputName, [1, 64], MlpModel.SampleInput(1))]);
        var (json, _) = InferenceJson.WriteRequest(request, InferOptions.Default, binaryInputs: false);
        var (binary, headerLength) = InferenceJson.WriteRequest(request, InferOptions.Default with { AllOutputsBinary = true }, binaryInputs: true);
        var jsonScript = WrkScript(work, "json", json, "application/json", null);
        var binaryScript = WrkScript(work, "binary", binary, "application/octet-stream", headerLength);
        var infer = GrpcFrame(work, "infer", BenchCommand.ToGrpc(request));
        var live = GrpcFrame(work, "live", new Mesh.Client.Grpc.ServerLiveRequest());

        var rest = $"http://127.0.0.1:{httpPort}";
        var rows = new List<(string What, int Connections, Figures Figures)>();
        foreach (var c in Connections)
        {
            var figures = new Dictionary<string, List<Run>>();
            void Add(string what, Run run) => (figures.TryGetValue(what, out var l) ? l : figures[what] = []).Add(run);
            for (var r = 0; r < runs; r++)
            {
                // Interleaved in each run, so the machine's noise falls on every row alike.
                Add("REST floor (GET /v2/health/live)", await WrkAsync($"{rest}/v2/health/live", null, c, duration));
                Add("Mesh REST, JSON", await WrkAsync($"{rest}/v2/models/bench-mlp/infer", jsonScript, c, duration));
                Add("Mesh REST, binary tensors", await WrkAsync($"{rest}/v2/models/bench-mlp/infer", binaryScript, c, duration));
                Add("plain server, JSON", await WrkAsync($"http://127.0.0.1:{plainPort}/infer", jsonScript, c, duration));
                Add("gRPC floor (ServerLive)", await H2LoadAsync($"http://127.0.0.1:{grpcPort}/inference.GRPCInferenceService/ServerLive", live, c, duration));
                Add("Mesh gRPC, raw contents", await H2LoadAsync($"http://127.0.0.1:{grpcPort}/inference.GRPCInferenceService/ModelInfer", infer, c, duration));
            }
            foreach (var (what, list) in figures) rows.Add((what, c, new Figures(list)));
        }
        File.Delete(modelPath);
        Directory.Delete(work, recursive: true);

        text.AppendLine($"`wrk -t1 -c N -d {duration.TotalSeconds:F0}s --latency` for REST (a Lua script posts the request body), `h2load -c C -m N/C -D {duration.TotalSeconds:F0}` for gRPC");
        text.AppendLine($"(a pre-encoded ModelInfer frame), {runs} interleaved runs a level; req/s as min / median / max, p50 from the median run.");
        text.AppendLine("The plain server answers only JSON; every ratio is of medians.");
        text.AppendLine();
        text.AppendLine("| what | connections | req/s min / median / max | p50 | / its floor | / plain server | errors |");
        text.AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (what, c, f) in rows)
        {
            var floorName = what.Contains("gRPC", StringComparison.Ordinal) ? "gRPC floor (ServerLive)" : "REST floor (GET /v2/health/live)";
            var floor = rows.Single(x => x.What == floorName && x.Connections == c).Figures;
            var plainRow = rows.Single(x => x.What == "plain server, JSON" && x.Connections == c).Figures;
            var isFloor = what.Contains("floor", StringComparison.Ordinal);
            text.AppendLine($"| {what} | {c} | {f.Min:F0} / {f.Median:F0} / {f.Max:F0} | {f.MedianRun.P50} | {(isFloor ? "" : Ratio(f.Median, floor.Median))} | " +
                            $"{(isFloor || what.StartsWith("plain", StringComparison.Ordinal) ? "" : Ratio(f.Median, plainRow.Median))} | {f.Errors} |");
        }
        text.AppendLine();

        Figures Of(string what, int c) => rows.Single(x => x.What == what && x.Connections == c).Figures;
        text.AppendLine("| target | measured (medians) | met |");
        text.AppendLine("| --- | --- | --- |");
        foreach (var c in new[] { 64, 256 })
        {
            var floorRest = Of("REST floor (GET /v2/health/live)", c).Median;
            var floorGrpc = Of("gRPC floor (ServerLive)", c).Median;
            var plainMedian = Of("plain server, JSON", c).Median;
            var jsonMedian = Of("Mesh REST, JSON", c).Median;
            var binaryMedian = Of("Mesh REST, binary tensors", c).Median;
            var grpcMedian = Of("Mesh gRPC, raw contents", c).Median;
            text.AppendLine(TargetRow($"REST JSON at {c}: >= 0.75x the REST floor", jsonMedian / floorRest, 0.75));
            text.AppendLine(TargetRow($"REST JSON at {c}: >= 1.3x the plain server", jsonMedian / plainMedian, 1.3));
            text.AppendLine(TargetRow($"REST binary at {c}: >= 0.8x the REST floor", binaryMedian / floorRest, 0.8));
            text.AppendLine(TargetRow($"REST binary at {c}: >= 1.5x the plain server", binaryMedian / plainMedian, 1.5));
            text.AppendLine(TargetRow($"gRPC at {c} streams: >= 0.75x the gRPC floor", grpcMedian / floorGrpc, 0.75));
            text.AppendLine(TargetRow($"gRPC at {c} streams: >= 1.5x the plain server", grpcMedian / plainMedian, 1.5));
        }
        var mesh1 = Of("Mesh REST, JSON", 1).MedianRun.P50Microseconds;
        var plain1 = Of("plain server, JSON", 1).MedianRun.P50Microseconds;
        text.AppendLine($"| concurrency 1: REST JSON p50 <= plain server p50 + 30 us | {mesh1:F0} us vs {plain1:F0} us (+{mesh1 - plain1:F0} us) | {(mesh1 <= plain1 + 30 ? "yes" : "**no**")} |");
        text.AppendLine();
        return text.ToString();
    }

    private static string TargetRow(string target, double ratio, double wanted) =>
        $"| {target} | {ratio:F2}x | {(ratio >= wanted ? "yes" : $"**no** ({ratio / wanted * 100:F0} % of it)")} |";

    private static string Ratio(double value, double baseline) => baseline <= 0 ? "n/a" : (value / baseline).ToString("F2", CultureInfo.InvariantCulture) + "x";

    private static bool Installed(string tool) => File.Exists($"/usr/bin/{tool}");

    // wrk posts a body only through a script; the body is written as a Lua long string of bytes.
    private static string WrkScript(string folder, string name, byte[] body, string contentType, int? headerLength)
    {
        var bodyPath = Path.Combine(folder, name + ".body");
        File.WriteAllBytes(bodyPath, body);
        var script = new StringBuilder();
        script.AppendLine($"local f = io.open(\"{bodyPath}\", \"rb\"); wrk.body = f:read(\"*all\"); f:close()");
        script.AppendLine("wrk.method = \"POST\"");
        script.AppendLine($"wrk.headers[\"Content-Type\"] = \"{contentType}\"");
        if (headerLength is int h) script.AppendLine($"wrk.headers[\"{InferenceJson.HeaderLengthHeader}\"] = \"{h}\"");
        var path = Path.Combine(folder, name + ".lua");
        File.WriteAllText(path, script.ToString());
        return path;
    }

    // A gRPC message on the wire: a 0 (not compressed), the length (big-endian), the protobuf bytes.
    private static string GrpcFrame(string folder, string name, IMessage message)
    {
        var bytes = message.ToByteArray();
        var frame = new byte[5 + bytes.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)bytes.Length);
        bytes.CopyTo(frame, 5);
        var path = Path.Combine(folder, name + ".grpc");
        File.WriteAllBytes(path, frame);
        return path;
    }

    private static async Task<Run> WrkAsync(string url, string? script, int connections, TimeSpan duration)
    {
        var args = new List<string> { "-t1", $"-c{connections}", $"-d{(int)duration.TotalSeconds}s", "--latency", "--timeout", "10s" };
        if (script is not null) args.AddRange(["-s", script]);
        args.Add(url);
        var output = await ToolAsync("wrk", args, duration);
        var rate = double.Parse(WrkRate().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var p50 = WrkP50().Match(output) is { Success: true } m ? m.Groups[1].Value + m.Groups[2].Value : "?";
        var errors = WrkErrors().Match(output) is { Success: true } e ? long.Parse(e.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        errors += WrkSocketErrors().Matches(output).Sum(x => long.Parse(x.Groups[1].Value, CultureInfo.InvariantCulture));
        return new Run(rate, p50, errors);
    }

    private static async Task<Run> H2LoadAsync(string url, string frame, int streams, TimeSpan duration)
    {
        var clients = Math.Min(streams, 8);
        var args = new List<string>
        {
            "-c", clients.ToString(CultureInfo.InvariantCulture), "-m", Math.Max(1, streams / clients).ToString(CultureInfo.InvariantCulture),
            "-D", ((int)duration.TotalSeconds).ToString(CultureInfo.InvariantCulture), "--warm-up-time", "1",
            "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", frame, url,
        };
        var output = await ToolAsync("h2load", args, duration + TimeSpan.FromSeconds(1));
        var rate = double.Parse(H2Rate().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var failed = H2Failed().Match(output) is { Success: true } f ? long.Parse(f.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var p50 = H2Mean().Match(output) is { Success: true } m ? m.Groups[1].Value + " (mean)" : "?";
        return new Run(rate, p50, failed);
    }

    private static async Task<string> ToolAsync(string tool, IEnumerable<string> args, TimeSpan duration)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(duration + TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(limit.Token);
        var output = await stdout + await stderr;
        Console.WriteLine($"{tool} {string.Join(' ', args.TakeLast(1))}: {output.Split('\n').FirstOrDefault(l => l.Contains("Requests/sec") || l.Contains("req/s"))?.Trim()}");
        return output;
    }

    private sealed record Run(double RequestsPerSecond, string P50, long Errors)
    {
        public double P50Microseconds => Regex.Match(P50, @"([\d.]+)(us|ms|s)") is { Success: true } m
            ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * (m.Groups[2].Value switch { "us" => 1, "ms" => 1000, _ => 1_000_000 })
            : double.NaN;
    }

    private sealed class Figures(List<Run> runs)
    {
        private readonly List<Run> _sorted = runs.OrderBy(r => r.RequestsPerSecond).ToList();
        public double Min => _sorted[0].RequestsPerSecond;
        public double Max => _sorted[^1].RequestsPerSecond;
        public Run MedianRun => _sorted[_sorted.Count / 2];
        public double Median => MedianRun.RequestsPerSecond;
        public long Errors => _sorted.Sum(r => r.Errors);
    }

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")] private static partial Regex WrkRate();
    [GeneratedRegex(@"\s50%\s+([\d.]+)(us|ms|s)")] private static partial Regex WrkP50();
    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")] private static partial Regex WrkErrors();
    [GeneratedRegex(@"(?:connect|read|write|timeout) (\d+)")] private static partial Regex WrkSocketErrors();
    [GeneratedRegex(@"finished in [\d.]+\w+, ([\d.]+) req/s")] private static partial Regex H2Rate();
    [GeneratedRegex(@"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed")] private static partial Regex H2Failed();
    [GeneratedRegex(@"time for request:\s+\S+\s+\S+\s+([\d.]+\w+)")] private static partial Regex H2Mean();
}
