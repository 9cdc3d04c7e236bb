using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Mesh.IntegrationTests.Otlp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TraceServiceBase = Mesh.IntegrationTests.Otlp.TraceService.TraceServiceBase;
using MetricsServiceBase = Mesh.IntegrationTests.Otlp.MetricsService.MetricsServiceBase;
using LogsServiceBase = Mesh.IntegrationTests.Otlp.LogsService.LogsServiceBase;

namespace Mesh.IntegrationTests.Infrastructure;

/// <summary>A span as a collector received it, with the service that sent it.</summary>
public sealed record ReceivedSpan(string Service, IReadOnlyDictionary<string, string> Resource, string TraceId, string SpanId, string? ParentSpanId,
    string Name, IReadOnlyDictionary<string, string> Attributes, IReadOnlyList<(string TraceId, string SpanId)> Links);

/// <summary>
/// An OTLP/gRPC collector on a loopback port, as an OpenTelemetry Collector would stand in front of a tracing backend:
/// processes under test export to it over the real protocol, and tests read what arrived.
/// </summary>
public sealed class OtlpCollector : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Received _received = new();

    public int Port { get; } = MeshProcess.FreePort();
    public string Endpoint => $"http://127.0.0.1:{Port}";
    public IReadOnlyCollection<ReceivedSpan> Spans => _received.Spans;
    public IReadOnlyCollection<(string Service, string Name)> Metrics => _received.Metrics;
    /// <summary>The service of each log record received.</summary>
    public IReadOnlyCollection<string> Logs => _received.Logs;

    private OtlpCollector()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, Port, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(_received);
        _app = builder.Build();
        _app.MapGrpcService<TraceReceiver>();
        _app.MapGrpcService<MetricsReceiver>();
        _app.MapGrpcService<LogsReceiver>();
    }

    public static async Task<OtlpCollector> StartAsync()
    {
        var collector = new OtlpCollector();
        await collector._app.StartAsync();
        return collector;
    }

    /// <summary>Waits until the spans received satisfy <paramref name="enough"/>, and returns them.</summary>
    public async Task<ReceivedSpan[]> WaitForSpansAsync(Func<ReceivedSpan[], bool> enough, TimeSpan within, string what)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < within)
        {
            var spans = Spans.ToArray();
            if (enough(spans)) return spans;
            await Task.Delay(100);
        }
        Assert.Fail($"the collector did not receive {what} within {within}; it has: {string.Join(", ", Spans.Select(s => $"{s.Service}/{s.Name}"))}");
        return [];
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class Received
    {
        public ConcurrentQueue<ReceivedSpan> Spans { get; } = new();
        public ConcurrentQueue<(string, string)> Metrics { get; } = new();
        public ConcurrentQueue<string> Logs { get; } = new();
    }

    private static Dictionary<string, string> Attributes(IEnumerable<KeyValue> attributes) =>
        attributes.GroupBy(a => a.Key).ToDictionary(g => g.Key, g => g.Last().Value is { } value ? Text(value) : "");

    private static string Text(AnyValue value) => value.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(),
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => "",
    };

    private static string Hex(Google.Protobuf.ByteString id) => Convert.ToHexStringLower(id.Span);

    private static string ServiceOf(IReadOnlyDictionary<string, string> resource) => resource.GetValueOrDefault("service.name", "");

    private sealed class TraceReceiver(Received received) : TraceServiceBase
    {
        public override Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
        {
            foreach (var resourceSpans in request.ResourceSpans)
            {
                var resource = Attributes(resourceSpans.Resource?.Attributes ?? []);
                foreach (var span in resourceSpans.ScopeSpans.SelectMany(s => s.Spans))
                {
                    received.Spans.Enqueue(new ReceivedSpan(ServiceOf(resource), resource, Hex(span.TraceId), Hex(span.SpanId),
                        span.ParentSpanId.IsEmpty ? null : Hex(span.ParentSpanId), span.Name, Attributes(span.Attributes),
                        span.Links.Select(l => (Hex(l.TraceId), Hex(l.SpanId))).ToArray()));
                }
            }
            return Task.FromResult(new ExportTraceServiceResponse());
        }
    }

    private sealed class MetricsReceiver(Received received) : MetricsServiceBase
    {
        public override Task<ExportMetricsServiceResponse> Export(ExportMetricsServiceRequest request, ServerCallContext context)
        {
            foreach (var resourceMetrics in request.ResourceMetrics)
            {
                var service = ServiceOf(Attributes(resourceMetrics.Resource?.Attributes ?? []));
                foreach (var metric in resourceMetrics.ScopeMetrics.SelectMany(s => s.Metrics)) received.Metrics.Enqueue((service, metric.Name));
            }
            return Task.FromResult(new ExportMetricsServiceResponse());
        }
    }

    private sealed class LogsReceiver(Received received) : LogsServiceBase
    {
        public override Task<ExportLogsServiceResponse> Export(ExportLogsServiceRequest request, ServerCallContext context)
        {
            foreach (var resourceLogs in request.ResourceLogs)
            {
                var service = ServiceOf(Attributes(resourceLogs.Resource?.Attributes ?? []));
                foreach (var _ in resourceLogs.ScopeLogs.SelectMany(s => s.LogRecords)) received.Logs.Enqueue(service);
            }
            return Task.FromResult(new ExportLogsServiceResponse());
        }
    }
}
