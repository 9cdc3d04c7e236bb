using System.Diagnostics;
using System.Diagnostics.Metrics;
using Mesh.Abstractions.Telemetry;

namespace Mesh.Grains.Telemetry;

/// <summary>
/// The silo's instruments on the <c>Mesh</c> meter. Made from the host's IMeterFactory, so two silos in one
/// process (tests) keep separate meters; every measurement carries the silo's address.
/// </summary>
public sealed class MeshMetrics
{
    public static readonly ActivitySource Source = new(MeshTelemetry.SourceName);

    /// <summary>
    /// Starts a server span for a grain call. Orleans' own incoming span exists only when someone listens to
    /// Orleans' sources; without it the caller's trace context is still in the request context, so the span
    /// continues the caller's trace either way.
    /// </summary>
    public static Activity? StartServerSpan(string name)
    {
        if (Activity.Current is null
            && RequestContext.Get("traceparent") is string traceParent
            && ActivityContext.TryParse(traceParent, RequestContext.Get("tracestate") as string, out var parent))
        {
            return Source.StartActivity(name, ActivityKind.Server, parent);
        }
        return Source.StartActivity(name, ActivityKind.Server);
    }

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _coldStarts;
    private readonly Histogram<double> _coldStartDuration;
    private readonly UpDownCounter<long> _loadedSessions;
    private readonly KeyValuePair<string, object?> _silo;

    public MeshMetrics(IMeterFactory meters, ILocalSiloDetails silo)
    {
        var meter = meters.Create(MeshTelemetry.MeterName);
        _silo = new(MeshTelemetry.Tags.Silo, silo.SiloAddress.ToString());
        _requests = meter.CreateCounter<long>(MeshTelemetry.Instruments.PredictRequests, "{request}", "Predict requests, by model, version and outcome");
        _duration = meter.CreateHistogram<double>(MeshTelemetry.Instruments.PredictDuration, "ms", "Time from a predict reaching the silo to its answer");
        _coldStarts = meter.CreateCounter<long>(MeshTelemetry.Instruments.ColdStarts, "{load}", "Sessions loaded because a predict found none");
        _coldStartDuration = meter.CreateHistogram<double>(MeshTelemetry.Instruments.ColdStartDuration, "ms", "Time to read the artifact and create the session");
        _loadedSessions = meter.CreateUpDownCounter<long>(MeshTelemetry.Instruments.LoadedSessions, "{session}", "ONNX Runtime sessions loaded in the silo");
    }

    public void Predicted(string model, int version, string outcome, double milliseconds)
    {
        var tags = new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version }, { MeshTelemetry.Tags.Outcome, outcome } };
        _requests.Add(1, tags);
        _duration.Record(milliseconds, tags);
    }

    public void ColdStart(string model, int version, double milliseconds)
    {
        var tags = new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version } };
        _coldStarts.Add(1, tags);
        _coldStartDuration.Record(milliseconds, tags);
    }

    public void SessionLoaded(string model, int version) =>
        _loadedSessions.Add(1, new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version } });

    public void SessionUnloaded(string model, int version) =>
        _loadedSessions.Add(-1, new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version } });
}
