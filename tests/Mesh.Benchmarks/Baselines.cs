using System.Diagnostics;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;
using Mesh.Inference.Sessions;

namespace Mesh.Benchmarks;

/// <summary>Raw ONNX Runtime in this process: the physical limit every other figure is compared with.</summary>
public static class RawOnnxRuntime
{
    public sealed record Figure(int Batch, double RowsPerSecond, double P50Ms);

    /// <summary>
    /// Raw ONNX Runtime at its best on all of this machine's cores, the figure a serving system on them is held to:
    /// the better of one session with an intra-op thread per core, and one single-threaded session per core with a
    /// caller each, at <paramref name="batch"/> rows.
    /// </summary>
    public static (Figure Figure, string How) MeasureOnAllCores(byte[] model, Func<int, NamedTensor[]> inputs, int batch, TimeSpan duration)
    {
        var cores = Environment.ProcessorCount;
        var wide = Measure(model, inputs, batch, duration, new OnnxSessionSettings { IntraOpThreads = cores });
        var each = Enumerable.Range(0, cores).AsParallel().WithDegreeOfParallelism(cores).Select(_ => Measure(model, inputs, batch, duration)).ToArray();
        var parallel = new Figure(batch, each.Sum(f => f.RowsPerSecond), each.Average(f => f.P50Ms));
        return wide.RowsPerSecond >= parallel.RowsPerSecond
            ? (wide, $"1 session, {cores} intra-op threads")
            : (parallel, $"{cores} sessions, 1 thread each, {cores} callers");
    }

    /// <summary>One thread, back-to-back runs of <paramref name="batch"/> rows for <paramref name="duration"/>.</summary>
    public static Figure Measure(byte[] model, Func<int, NamedTensor[]> inputs, int batch, TimeSpan duration, OnnxSessionSettings? settings = null)
    {
        using var session = OnnxModelSession.Load("raw", model, settings ?? new OnnxSessionSettings());
        var request = inputs(batch);
        for (var i = 0; i < 20; i++) session.Run(1, request);
        var latencies = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            session.Run(1, request);
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        latencies.Sort();
        return new Figure(batch, latencies.Count * batch / clock.Elapsed.TotalSeconds, latencies[latencies.Count / 2]);
    }
}

/// <summary>
/// What a user would write without Mesh: an ASP.NET endpoint that parses the JSON, runs ONNX Runtime on one shared
/// session for that one request (no batching) and writes JSON back. Runs as its own process.
/// </summary>
public static class PlainServer
{
    public static async Task RunAsync(int port, string modelPath)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, port));
        var app = builder.Build();
        using var session = OnnxModelSession.Load("plain", await File.ReadAllBytesAsync(modelPath), new OnnxSessionSettings());
        app.MapPost("/infer", async (HttpContext http) =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            var (request, options) = InferenceJson.ReadRequest("plain", null, body.ToArray(), ReadOnlyMemory<byte>.Empty);
            var outputs = session.Run(1, request.Inputs, request.Outputs);
            var (bytes, _) = InferenceJson.WriteResponse(new Mesh.Abstractions.Inference.PredictResponse("plain", 1, outputs, false, ""), options);
            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(bytes);
        });
        Console.WriteLine("plain server ready");
        await app.RunAsync();
    }
}
