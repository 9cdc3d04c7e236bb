using System.Diagnostics;
using Mesh.Abstractions.Telemetry;
using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Operations;

/// <summary>
/// Traces as an operator's backend sees them: a silo process and an edge bridge process export over OTLP/gRPC to one
/// collector, and the traces that cross them arrive whole (no span whose parent never arrived).
/// </summary>
[Trait("Category", "Process"), Trait("Category", "Edge")]
public class OtlpExportTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    // Exporters send every 200 ms instead of OpenTelemetry's 5 s, so the test waits for the mesh, not for a timer.
    private static readonly Dictionary<string, string> QuickExport = new()
    {
        ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        ["OTEL_BLRP_SCHEDULE_DELAY"] = "200",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
    };

    private static string CallerHeader(out string trace)
    {
        var (id, span) = (ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom());
        trace = id.ToString();
        return $"00-{id}-{span}-01";
    }

    private static async Task PostAsync(string url, string traceParent)
    {
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent($$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", new float[64])}}]}]}""",
                System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("traceparent", traceParent);
        using var answer = await client.SendAsync(request);
        Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
    }

    /// <summary>The spans of <paramref name="trace"/> whose parent is in the trace but never arrived.</summary>
    private static string[] Orphans(ReceivedSpan[] spans, string trace, string callerSpan)
    {
        var ids = spans.Where(s => s.TraceId == trace).Select(s => s.SpanId).ToHashSet();
        return spans.Where(s => s.TraceId == trace && s.ParentSpanId is { } parent && parent != callerSpan && !ids.Contains(parent))
            .Select(s => $"{s.Service}/{s.Name}").ToArray();
    }

    [Fact]
    public async Task Silo_and_bridge_export_their_spans_over_otlp_and_a_trace_across_them_arrives_whole()
    {
        await using var collector = await OtlpCollector.StartAsync();
        var root = Path.Combine(Path.GetTempPath(), "mesh-tests", $"otlp-{Guid.NewGuid():N}");
        var (http, gateway) = (MeshProcess.FreePort(), MeshProcess.FreePort());
        try
        {
            var siloSettings = MeshProcess.SiloSettings(gateway, http, Path.Combine(root, "silo"));
            siloSettings["Mesh__Telemetry__Exporters__0"] = "otlp";
            siloSettings["Mesh__Telemetry__OtlpEndpoint"] = collector.Endpoint;
            foreach (var (key, value) in QuickExport) siloSettings[key] = value;
            await using var silo = MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [], siloSettings);
            await silo.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
            var registered = await MeshProcess.RunCliAsync("devices", "register", "otlp-cam", "--home", "local", "--model", "mlp", "--gateway", $"127.0.0.1:{gateway}");
            Assert.True(registered.ExitCode == 0, registered.Stderr);
            var bridgeHttp = MeshProcess.FreePort();
            var bridgeSettings = MeshProcess.EdgeBridgeSettings("otlp-cam", Path.Combine(root, "bridge"), bridgeHttp, $"http://127.0.0.1:{http}", MeshProcess.DeviceToken(registered.Stdout));
            bridgeSettings["Mesh__Edge__OtlpEndpoint"] = collector.Endpoint;
            foreach (var (key, value) in QuickExport) bridgeSettings[key] = value;
            await using var bridge = MeshProcess.Start(MeshProcess.BuiltAssembly("edge-bridge/Mesh.EdgeBridge", "mesh-edge.dll"), [], bridgeSettings);
            await bridge.WaitForOutputAsync("Mesh edge bridge ready:", StartTimeout);

            // A predict at the region: the request, the grain's predict, its batch and the ONNX Runtime run, one tree.
            var atRegion = CallerHeader(out var regionTrace);
            await PostAsync($"http://127.0.0.1:{http}/v2/models/mlp/infer", atRegion);
            // Spans end inner first and leave in separate export batches, so the wait is for the whole tree: the
            // ONNX Runtime run can arrive a batch before the predict and the request that enclose it.
            var callerSpan = atRegion.Split('-')[2];
            var regionSpans = await collector.WaitForSpansAsync(spans =>
            {
                var tree = spans.Where(s => s.TraceId == regionTrace).ToArray();
                return tree.Any(s => s.Name == MeshTelemetry.Spans.OnnxRun) && tree.Any(s => s.Name == MeshTelemetry.Spans.Predict)
                    && tree.Any(s => s.Name == MeshTelemetry.Spans.Batch) && tree.Any(s => s.ParentSpanId == callerSpan)
                    && Orphans(spans, regionTrace, callerSpan).Length == 0;
            }, TimeSpan.FromSeconds(30), "the region predict's tree (request, predict, batch, ONNX Runtime run)");
            var region = regionSpans.Where(s => s.TraceId == regionTrace).ToArray();
            Assert.All(region, s => Assert.Equal(MeshTelemetry.SiloServiceName, s.Service));
            Assert.Contains(region, s => s.Name == MeshTelemetry.Spans.Predict);
            Assert.Contains(region, s => s.Name == MeshTelemetry.Spans.Batch);
            Assert.Contains(region, s => s.ParentSpanId == callerSpan && s.Attributes.ContainsKey("http.request.method"));
            Assert.Empty(Orphans(regionSpans, regionTrace, callerSpan));
            Assert.Equal("local", region[0].Resource[MeshTelemetry.Tags.Region]);

            // A predict on the device: its span comes from the bridge; the sync that carries its result is one trace
            // from the bridge's send through the gateway and the device grain to the read model's fold.
            var onDevice = CallerHeader(out var deviceTrace);
            await PostAsync($"http://127.0.0.1:{bridgeHttp}/v2/models/mlp/infer", onDevice);
            var spans = await collector.WaitForSpansAsync(all =>
            {
                var send = all.FirstOrDefault(s => s.Name == MeshTelemetry.Spans.EdgeSync && s.Links.Any(l => l.TraceId == deviceTrace));
                var edgePredict = all.FirstOrDefault(s => s.TraceId == deviceTrace && s.Name == MeshTelemetry.Spans.EdgePredict);
                return send is not null && edgePredict is not null && all.Any(s => s.SpanId == edgePredict.ParentSpanId)
                    && all.Any(s => s.TraceId == send.TraceId && s.Name == MeshTelemetry.Spans.EventConsume)
                    && all.Any(s => s.TraceId == send.TraceId && s.Name == MeshTelemetry.Spans.DeviceApply)
                    && all.Any(s => s.Name == MeshTelemetry.Spans.DeviceSync && s.ParentSpanId == send.SpanId)
                    && Orphans(all, send.TraceId, callerSpan: "").Length == 0;
            }, TimeSpan.FromSeconds(30), "the device predict with its request, and its result's sync down to a read model with no span missing its parent");

            var predict = Assert.Single(spans, s => s.TraceId == deviceTrace && s.Name == MeshTelemetry.Spans.EdgePredict);
            Assert.Equal(MeshTelemetry.EdgeServiceName, predict.Service);
            Assert.Equal("otlp-cam", predict.Resource[MeshTelemetry.Tags.Device]);
            // The bridge's local API request span is the predict's parent, under the caller's span.
            var request = Assert.Single(spans, s => s.SpanId == predict.ParentSpanId);
            Assert.Equal(onDevice.Split('-')[2], request.ParentSpanId);

            var send = spans.First(s => s.Name == MeshTelemetry.Spans.EdgeSync && s.Links.Any(l => l.TraceId == deviceTrace));
            Assert.Contains(send.Links, l => l.SpanId == predict.SpanId);
            var sync = Assert.Single(spans, s => s.Name == MeshTelemetry.Spans.DeviceSync && s.ParentSpanId == send.SpanId);
            Assert.Equal(MeshTelemetry.SiloServiceName, sync.Service);
            var trace = spans.Where(s => s.TraceId == send.TraceId).ToArray();
            Assert.Contains(trace, s => s.Name == MeshTelemetry.Spans.DeviceApply);
            Assert.Equal([MeshTelemetry.EdgeServiceName, MeshTelemetry.SiloServiceName], trace.Select(s => s.Service).Distinct().Order());
            Assert.Empty(Orphans(spans, send.TraceId, callerSpan: ""));

            // The silo sends its metrics and its logs to the same collector.
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < TimeSpan.FromSeconds(15) && !collector.Metrics.Any(m => m.Name == MeshTelemetry.Instruments.PredictRequests))
                await Task.Delay(100);
            Assert.Contains(collector.Metrics, m => m.Service == MeshTelemetry.SiloServiceName && m.Name == MeshTelemetry.Instruments.PredictRequests);
            Assert.Contains(collector.Logs, service => service == MeshTelemetry.SiloServiceName);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task A_bridge_given_an_otlp_endpoint_without_http_scheme_stops_at_start_and_names_the_setting()
    {
        var root = Path.Combine(Path.GetTempPath(), "mesh-tests", $"otlp-bad-{Guid.NewGuid():N}");
        await using var bridge = MeshProcess.Start(MeshProcess.BuiltAssembly("edge-bridge/Mesh.EdgeBridge", "mesh-edge.dll"), [], new Dictionary<string, string>
        {
            ["Mesh__Edge__DeviceId"] = "otlp-bad",
            ["Mesh__Edge__DataDirectory"] = root,
            ["Mesh__Edge__HttpPort"] = MeshProcess.FreePort().ToString(),
            ["Mesh__Edge__OtlpEndpoint"] = "collector:4317",
        });
        Assert.Equal(2, await bridge.WaitForExitAsync(StartTimeout));
        Assert.Contains("Mesh:Edge:OtlpEndpoint must be an http:// or https:// URI, e.g. http://collector:4317 (was 'collector:4317')", bridge.Stderr);
        Assert.DoesNotContain("   at ", bridge.Stderr);
    }
}
