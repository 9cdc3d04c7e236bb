using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Telemetry;
using Mesh.Client;
using Mesh.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Mesh.IntegrationTests.Gateway;

/// <summary>A silo in this process, whose spans the in-memory exporter collects (every source the silo traces).</summary>
public sealed class TracedGateway : GatewayFixture, IDisposable
{
    public ConcurrentQueue<Activity> Spans { get; } = new();
    private readonly TracerProvider _tracing;

    public TracedGateway()
    {
        // Request spans as the silo takes them (the silo's own tracing leaves out scrapes too).
        _tracing = Sdk.CreateTracerProviderBuilder()
            .AddAspNetCoreInstrumentation(o => o.Filter = http => !http.Request.Path.StartsWithSegments("/metrics"))
            .AddSource(MeshTelemetry.SourceName, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application")
            .AddProcessor(new SimpleActivityExportProcessor(new QueueExporter(Spans)))
            .Build()!;
    }

    public void Dispose() => _tracing.Dispose();

    /// <summary>
    /// Waits until the spans of <paramref name="trace"/> include one of each of <paramref name="names"/>. Spans are
    /// exported as they end, inner first, and a server's request span can end after its caller has the response, so a
    /// test waits for every span it reads, not only the innermost one.
    /// </summary>
    public async Task<Activity[]> TraceAsync(ActivityTraceId trace, TimeSpan within, params string[] names)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < within)
        {
            var spans = Spans.Where(s => s.TraceId == trace).ToArray();
            if (names.All(name => spans.Any(s => s.OperationName == name))) return spans;
            await Task.Delay(50);
        }
        Assert.Fail($"trace {trace} lacks one of {string.Join(", ", names)} after {within}; it has: {string.Join(", ", Spans.Where(s => s.TraceId == trace).Select(s => s.OperationName))}");
        return [];
    }

    // The in-memory exporter's list is not safe to read while another test's spans arrive; a queue is.
    private sealed class QueueExporter(ConcurrentQueue<Activity> spans) : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch)
        {
            foreach (var span in batch) spans.Enqueue(span);
            return ExportResult.Success;
        }
    }
}

[Trait("Category", "Integration")]
public class TraceTests(TracedGateway gateway) : IClassFixture<TracedGateway>
{
    private static (ActivityTraceId Trace, ActivitySpanId Span, string Header) CallerContext()
    {
        var (trace, span) = (ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom());
        return (trace, span, $"00-{trace}-{span}-01");
    }

    // ASP.NET Core's name for its request span.
    private const string AspNetCoreRequest = "Microsoft.AspNetCore.Hosting.HttpRequestIn";

    private static Activity One(Activity[] spans, string name) =>
        Assert.Single(spans, s => s.OperationName == name);

    private static string Rows(int rows) =>
        $$"""{"inputs":[{"name":"input","shape":[{{rows}},64],"datatype":"FP32","data":[{{string.Join(",", new float[rows * 64])}}]}]}""";

    private async Task PostAsync(string model, int rows, string? traceParent)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{model}/infer")
        {
            Content = new StringContent(Rows(rows), System.Text.Encoding.UTF8, "application/json"),
        };
        if (traceParent is not null) request.Headers.Add("traceparent", traceParent);
        using var response = await gateway.Http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_http_predict_is_one_trace_from_the_callers_header_through_gateway_grain_batch_and_onnx_runtime()
    {
        var caller = CallerContext();
        // A fresh model: its first predict loads the session inside the batch.
        var model = TestModels.UniqueName("traced-http");
        await gateway.App.Services.GetRequiredService<MeshClient>().DeployAsync(model, TestModels.Mlp);
        await PostAsync(model, 1, caller.Header);

        var spans = await gateway.TraceAsync(caller.Trace, TimeSpan.FromSeconds(10), AspNetCoreRequest,
            MeshTelemetry.Spans.Predict, MeshTelemetry.Spans.Batch, MeshTelemetry.Spans.SessionLoad, MeshTelemetry.Spans.OnnxRun);
        var http = Assert.Single(spans, s => s.Kind == ActivityKind.Server && s.Source.Name == "Microsoft.AspNetCore");
        Assert.Equal(caller.Span, http.ParentSpanId);
        var predict = One(spans, MeshTelemetry.Spans.Predict);
        Assert.Equal(http.SpanId, predict.ParentSpanId);
        Assert.Equal(model, predict.GetTagItem(MeshTelemetry.Tags.Model));
        var batch = One(spans, MeshTelemetry.Spans.Batch);
        Assert.Equal(predict.SpanId, batch.ParentSpanId);
        Assert.Equal(1, batch.GetTagItem(MeshTelemetry.Tags.BatchRequests));
        Assert.Equal(batch.SpanId, One(spans, MeshTelemetry.Spans.SessionLoad).ParentSpanId);
        var run = One(spans, MeshTelemetry.Spans.OnnxRun);
        Assert.Equal(batch.SpanId, run.ParentSpanId);
        Assert.Equal(1, run.GetTagItem(MeshTelemetry.Tags.BatchRows));
    }

    [Fact]
    public async Task Requests_served_in_one_batch_link_their_traces_to_it()
    {
        var mesh = gateway.App.Services.GetRequiredService<MeshClient>();
        var model = TestModels.UniqueName("traced-batch");
        // Wide enough that a 32-row run keeps a runner busy for milliseconds: traced requests that arrive meanwhile
        // queue (an idle batcher runs a request inline, alone) and wait for company.
        await mesh.DeployAsync(model, Mesh.SampleModels.MlpModel.Build(new Mesh.SampleModels.MlpModel.Options(Hidden: 2048, Seed: 9)));
        await mesh.SetPolicyAsync(model, Mesh.Abstractions.Models.ServingPolicy.Default with { MaxQueueDelayMicroseconds = 100_000 });

        // Queueing depends on timing; enough rounds make it certain without making the test slow (10 were not enough
        // once in a full run on a loaded machine, where all ten passed in 0.5 s without a shared batch).
        Activity? shared = null;
        (ActivityTraceId Trace, ActivitySpanId Span, string Header)[] callers = [];
        for (var round = 0; round < 40 && shared is null; round++)
        {
            callers = Enumerable.Range(0, 4).Select(_ => CallerContext()).ToArray();
            var busy = Enumerable.Range(0, 2).Select(_ => PostAsync(model, 32, null)).ToArray();
            await Task.Delay(2);
            await Task.WhenAll(callers.Select(c => PostAsync(model, 1, c.Header)).Concat(busy));
            var traces = callers.Select(c => c.Trace).ToHashSet();
            shared = gateway.Spans.FirstOrDefault(s => s.OperationName == MeshTelemetry.Spans.Batch && traces.Contains(s.TraceId) && s.Links.Any());
        }
        Assert.NotNull(shared);

        // The batch is its first request's child and links to every other request's predict span.
        var ours = callers.Select(c => c.Trace).ToHashSet();
        var predicts = gateway.Spans.Where(s => s.OperationName == MeshTelemetry.Spans.Predict && ours.Contains(s.TraceId)).ToArray();
        Assert.Contains(predicts, p => p.SpanId == shared.ParentSpanId);
        Assert.All(shared.Links, link => Assert.Contains(predicts, p => p.SpanId == link.Context.SpanId && p.TraceId == link.Context.TraceId));
        Assert.Equal(shared.Links.Count() + 1, shared.GetTagItem(MeshTelemetry.Tags.BatchRequests));
    }

    [Fact]
    public async Task An_edge_result_is_traced_from_the_bridge_predict_through_sync_and_the_device_grain_to_a_read_model()
    {
        var mesh = gateway.App.Services.GetRequiredService<MeshClient>();
        var device = TestModels.UniqueName("traced-cam");
        var registered = await mesh.RegisterDeviceAsync(device, new DeviceRegistration("local", ["mlp"]));
        var data = Path.Combine(gateway.DataDirectory, "bridge-" + device);
        var http = MeshProcess.FreePort();
        await using var bridge = MeshProcess.Start(MeshProcess.BuiltAssembly("edge-bridge/Mesh.EdgeBridge", "mesh-edge.dll"), [],
            MeshProcess.EdgeBridgeSettings(device, data, http, gateway.BaseAddress.ToString(), registered.Token));
        await bridge.WaitForOutputAsync("Mesh edge bridge ready:", TimeSpan.FromSeconds(60));

        var caller = CallerContext();
        using (var client = new HttpClient())
        using (var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{http}/v2/models/mlp/infer"))
        {
            request.Content = new StringContent(Rows(1), System.Text.Encoding.UTF8, "application/json");
            request.Headers.Add("traceparent", caller.Header);
            using var answer = await client.SendAsync(request);
            Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
        }

        // The bridge's predict (in the caller's trace) is linked from the mesh's handling of the batch that carried it.
        var watch = Stopwatch.StartNew();
        Activity? sync = null;
        while (sync is null && watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            sync = gateway.Spans.FirstOrDefault(s => s.OperationName == MeshTelemetry.Spans.DeviceSync && s.Links.Any(l => l.Context.TraceId == caller.Trace));
            await Task.Delay(50);
        }
        Assert.NotNull(sync);
        Assert.Equal(device, sync.GetTagItem(MeshTelemetry.Tags.Device));
        // Its parent is the bridge's send, named in the batch (not a span of this process).
        Assert.NotEqual(default, sync.ParentSpanId);
        Assert.DoesNotContain(gateway.Spans, s => s.SpanId == sync.ParentSpanId);

        var spans = await gateway.TraceAsync(sync.TraceId, TimeSpan.FromSeconds(15), MeshTelemetry.Spans.DeviceApply, MeshTelemetry.Spans.EventConsume);
        var apply = One(spans, MeshTelemetry.Spans.DeviceApply);
        Assert.True(IsBelow(spans, apply, sync), "the device grain's span is below the sync span");
        var consumed = spans.Where(s => s.OperationName == MeshTelemetry.Spans.EventConsume).ToArray();
        Assert.Contains(consumed, c => c.ParentSpanId == apply.SpanId && (string?)c.GetTagItem(MeshTelemetry.Tags.EventType) == "device.results-synced");
    }

    // Walks parent links within the trace (Orleans' own client and server spans sit between the gateway and the grain).
    private static bool IsBelow(Activity[] spans, Activity child, Activity ancestor)
    {
        for (var current = child; current is not null; current = spans.FirstOrDefault(s => s.SpanId == current.ParentSpanId))
        {
            if (current.ParentSpanId == ancestor.SpanId) return true;
        }
        return false;
    }
}
