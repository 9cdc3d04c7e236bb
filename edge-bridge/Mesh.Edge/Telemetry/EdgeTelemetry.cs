using System.Diagnostics;
using Mesh.Abstractions.Telemetry;
using Mesh.Edge.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Mesh.Edge.Telemetry;

/// <summary>
/// The bridge's spans. Their contexts travel with the results (in the outbox and the sync batch), so the mesh's
/// handling of a result joins the trace of the predict that made it. The bridge always records its spans (a few
/// hundred bytes each) so that the contexts it hands on say "sampled" and the mesh keeps its half of the trace; with
/// an OTLP endpoint it also exports them, and the collector holds the whole trace.
/// </summary>
public static class EdgeTelemetry
{
    public static readonly ActivitySource Source = new(MeshTelemetry.EdgeSourceName);

    private static ActivityListener? _listener;

    // ASP.NET Core's request spans carry a caller's traceparent header in; HttpClient's carry the bridge's calls to the
    // mesh out, and the gateway's request spans name them as parents.
    private static readonly string[] Sources = [MeshTelemetry.EdgeSourceName, "Microsoft.AspNetCore", "System.Net.Http"];

    /// <summary>Turns the bridge's spans on, with the request spans around them.</summary>
    public static void Start()
    {
        if (_listener is not null) return;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => Sources.Contains(source.Name),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>
    /// Exports the bridge's spans (and <paramref name="more"/>, e.g. the local API's request spans) to the
    /// configured OTLP collector.
    /// </summary>
    public static void AddEdgeTracing(this IServiceCollection services, EdgeBridgeOptions options, Action<TracerProviderBuilder>? more = null)
    {
        if (string.IsNullOrEmpty(options.OtlpEndpoint)) return;
        var endpoint = new Uri(options.OtlpEndpoint);
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(MeshTelemetry.EdgeServiceName, serviceInstanceId: options.DeviceId)
                .AddAttributes([new(MeshTelemetry.Tags.Device, options.DeviceId)]))
            .WithTracing(tracing => tracing
                // Every span the listener above records: each result's context reaches the mesh as sampled, so
                // its predict span must reach the collector too.
                .SetSampler(new AlwaysOnSampler())
                .AddSource(MeshTelemetry.EdgeSourceName, "System.Net.Http")
                .AddOtlpExporter(o => o.Endpoint = endpoint)
                .With(more));
    }

    private static TracerProviderBuilder With(this TracerProviderBuilder tracing, Action<TracerProviderBuilder>? more)
    {
        more?.Invoke(tracing);
        return tracing;
    }
}
