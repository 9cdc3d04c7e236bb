using System.Diagnostics;
using System.Diagnostics.Metrics;
using Mesh.Abstractions.Grains;
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
    private readonly Histogram<long> _batchRows;
    private readonly Histogram<long> _batchRequests;
    private readonly Histogram<double> _computeDuration;
    private readonly Histogram<double> _queueDuration;
    private readonly UpDownCounter<long> _queueDepth;
    private readonly Counter<long> _usageRequests;
    private readonly Counter<long> _usageRows;
    private readonly Counter<double> _usageCompute;
    private readonly Counter<double> _usageQueue;
    private readonly Counter<long> _shadowComparisons;
    private readonly Counter<long> _replicatedEvents;
    private readonly Histogram<double> _replicationLag;
    private readonly Counter<long> _conflicts;
    private readonly Counter<long> _refused;
    private readonly KeyValuePair<string, object?> _silo;

    private readonly TrafficStats _traffic;
    private readonly InferenceStatistics _statistics;

    public MeshMetrics(IMeterFactory meters, ILocalSiloDetails silo, TrafficStats traffic, InferenceStatistics statistics)
    {
        (_traffic, _statistics) = (traffic, statistics);
        var meter = meters.Create(MeshTelemetry.MeterName);
        _silo = new(MeshTelemetry.Tags.Silo, silo.SiloAddress.ToString());
        _requests = meter.CreateCounter<long>(MeshTelemetry.Instruments.PredictRequests, "{request}", "Predict requests, by model, version and outcome");
        _duration = meter.CreateHistogram<double>(MeshTelemetry.Instruments.PredictDuration, "ms", "Time from a predict reaching the silo to its answer");
        _coldStarts = meter.CreateCounter<long>(MeshTelemetry.Instruments.ColdStarts, "{load}", "Sessions loaded because a predict found none");
        _coldStartDuration = meter.CreateHistogram<double>(MeshTelemetry.Instruments.ColdStartDuration, "ms", "Time to read the artifact and create the session");
        _loadedSessions = meter.CreateUpDownCounter<long>(MeshTelemetry.Instruments.LoadedSessions, "{session}", "ONNX Runtime sessions loaded in the silo");
        _batchRows = meter.CreateHistogram<long>(MeshTelemetry.Instruments.BatchSize, "{row}", "Rows in one ONNX Runtime run (dynamic batching)");
        _batchRequests = meter.CreateHistogram<long>(MeshTelemetry.Instruments.BatchRequests, "{request}", "Requests in one ONNX Runtime run");
        _computeDuration = meter.CreateHistogram<double>(MeshTelemetry.Instruments.ComputeDuration, "ms", "Time of one ONNX Runtime run, per batch");
        _queueDuration = meter.CreateHistogram<double>(MeshTelemetry.Instruments.QueueDuration, "ms", "Time a request waited in its model's queue");
        _queueDepth = meter.CreateUpDownCounter<long>(MeshTelemetry.Instruments.QueueDepth, "{request}", "Requests waiting in the model's queue");
        _usageRequests = meter.CreateCounter<long>(MeshTelemetry.Instruments.UsageRequests, "{request}", "Served requests per caller");
        _usageRows = meter.CreateCounter<long>(MeshTelemetry.Instruments.UsageRows, "{row}", "Served rows per caller");
        _usageCompute = meter.CreateCounter<double>(MeshTelemetry.Instruments.UsageCompute, "ms", "Compute time per caller (a batch's time shared by rows)");
        _usageQueue = meter.CreateCounter<double>(MeshTelemetry.Instruments.UsageQueue, "ms", "Queue time per caller");
        _shadowComparisons = meter.CreateCounter<long>(MeshTelemetry.Instruments.ShadowComparisons, "{request}",
            "Predicts copied to a model's shadow version, by outcome: agree, disagree or error");
        _replicatedEvents = meter.CreateCounter<long>(MeshTelemetry.Instruments.ReplicatedEvents, "{event}", "Events shipped to a peer region");
        _replicationLag = meter.CreateHistogram<double>(MeshTelemetry.Instruments.ReplicationLag, "ms",
            "Time from an event being stored in its region to its arrival in this one");
        _conflicts = meter.CreateCounter<long>(MeshTelemetry.Instruments.ReplicationConflicts, "{event}",
            "Replicated writes that arrived older than the register's value here and lost (last writer wins)");
        _refused = meter.CreateCounter<long>(MeshTelemetry.Instruments.ReplicationRefused, "{event}",
            "Replicated events refused here, by reason (residency: an event of a pinned model from a region outside its set)");
        _deviceResults = meter.CreateCounter<long>(MeshTelemetry.Instruments.DeviceResults, "{result}",
            "Edge results received by sync, by outcome: applied (new) or duplicate (sent again, ignored)");
        _failoversTaken = meter.CreateCounter<long>(MeshTelemetry.Instruments.FailoversTaken, "{predict}",
            "Predicts this region answered because the client's preferred region (mesh.region.from) had failed, as clients report them");
        meter.CreateObservableGauge(MeshTelemetry.Instruments.ReplicationBehind, () => _peers.Select(p =>
                new Measurement<long>(p.Value.Behind, _silo, new(MeshTelemetry.Tags.Peer, p.Key))), "{event}",
            "Feed positions this region has not yet shipped past for a peer (grows while the peer is unreachable or paused)");
        meter.CreateObservableGauge(MeshTelemetry.Instruments.ReplicationPeerUp, () => _peers.Select(p =>
                new Measurement<int>(p.Value.Up ? 1 : 0, _silo, new(MeshTelemetry.Tags.Peer, p.Key))), "{peer}",
            "1 while the last shipment to the peer succeeded, 0 while it fails");
        meter.CreateObservableGauge(MeshTelemetry.Instruments.FleetDevices, () => FreshFleet().SelectMany(f => f.Summary.Models.Select(m =>
                new Measurement<int>(m.Devices, _silo, new(MeshTelemetry.Tags.Model, m.Model)))), "{device}",
            "This region's devices running a model (reported by the silo that keeps the region's fleet summary)");
        meter.CreateObservableGauge(MeshTelemetry.Instruments.FleetDevicesDrifting, () => FreshFleet().SelectMany(f => f.Summary.Models.Select(m =>
                new Measurement<int>(m.Drifting, _silo, new(MeshTelemetry.Tags.Model, m.Model)))), "{device}",
            "This region's devices whose inputs for a model drifted from its baseline");
        meter.CreateObservableGauge(MeshTelemetry.Instruments.FleetSyncAgeMax, () => FreshFleet().Where(f => f.OldestSync is not null).Select(f =>
                new Measurement<double>(f.OldestSync!.Value.TotalSeconds, _silo)), "s",
            "Time since the device that synced longest ago last synced (devices that never synced are not counted)");
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long Behind, bool Up)> _peers = new(StringComparer.Ordinal);
    // Swapped whole (a reference), so a collection never reads half of an update.
    private volatile FleetSnapshot? _fleet;

    private sealed record FleetSnapshot(FleetSummary Summary, TimeSpan? OldestSync, DateTimeOffset At);

    /// <summary>What a replicator knows of its peer after a shipping round.</summary>
    public void ReplicationState(string peer, long behind, bool up) => _peers[peer] = (behind, up);

    /// <summary>The region's fleet as the fleet summary grain computed it (every few seconds, in one silo).</summary>
    public void Fleet(FleetSummary summary, TimeSpan? oldestSync) => _fleet = new FleetSnapshot(summary, oldestSync, DateTimeOffset.UtcNow);

    // A summary not refreshed for a while belongs to a grain that moved to another silo, which now reports it.
    private IEnumerable<(FleetSummary Summary, TimeSpan? OldestSync)> FreshFleet() =>
        _fleet is { } f && DateTimeOffset.UtcNow - f.At < TimeSpan.FromSeconds(30) ? [(f.Summary, f.OldestSync)] : [];

    public void DeviceSynced(int applied, int duplicates)
    {
        _deviceResults.Add(applied, new TagList { _silo, { MeshTelemetry.Tags.Outcome, "applied" } });
        if (duplicates > 0) _deviceResults.Add(duplicates, new TagList { _silo, { MeshTelemetry.Tags.Outcome, "duplicate" } });
    }

    public void FailoversTaken(string fromRegion, long predicts) =>
        _failoversTaken.Add(predicts, new TagList { _silo, { MeshTelemetry.Tags.FromRegion, fromRegion } });

    private readonly Counter<long> _failoversTaken;
    private readonly Counter<long> _deviceResults;

    public void Replicated(string peer, int events) =>
        _replicatedEvents.Add(events, new TagList { _silo, { MeshTelemetry.Tags.Peer, peer } });

    public void ConflictResolved(string model, string register) =>
        _conflicts.Add(1, new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Register, register } });

    public void ReplicationRefused(string model, string fromRegion, string reason) =>
        _refused.Add(1, new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.FromRegion, fromRegion }, { MeshTelemetry.Tags.Reason, reason } });

    public void ReplicationLag(string fromRegion, double milliseconds) =>
        _replicationLag.Record(milliseconds, new TagList { _silo, { MeshTelemetry.Tags.FromRegion, fromRegion } });

    public void ShadowCompared(string model, int version, int shadowVersion, string outcome)
    {
        _shadowComparisons.Add(1, new TagList
        {
            _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version },
            { MeshTelemetry.Tags.ShadowVersion, shadowVersion }, { MeshTelemetry.Tags.Outcome, outcome },
        });
        _traffic.ShadowCompared(model, version, shadowVersion, outcome);
    }

    public void Predicted(string model, int version, string outcome, double milliseconds, int requests = 1)
    {
        var tags = new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version }, { MeshTelemetry.Tags.Outcome, outcome } };
        _requests.Add(requests, tags);
        for (var i = 0; i < requests; i++) _duration.Record(milliseconds, tags);
        _traffic.Predicted(model, outcome == "success", milliseconds, requests);
        _statistics.Predicted(model, version, outcome == "success", milliseconds, requests);
    }

    public void ColdStart(string model, int version, double milliseconds)
    {
        var tags = new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version } };
        _coldStarts.Add(1, tags);
        _coldStartDuration.Record(milliseconds, tags);
        _traffic.ColdStart(model);
    }

    public void Queued(string model, int version, int delta) =>
        _queueDepth.Add(delta, new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version } });

    public void BatchRan(string model, int version, int rows, int requests, double milliseconds)
    {
        var tags = new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version } };
        _batchRows.Record(rows, tags);
        _batchRequests.Record(requests, tags);
        _computeDuration.Record(milliseconds, tags);
        _statistics.Executed(model, version, rows, requests, milliseconds);
    }

    public void QueueWaited(string model, int version, double milliseconds)
    {
        _queueDuration.Record(milliseconds, new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version } });
        _statistics.Queued(model, version, milliseconds);
    }

    public void Used(string caller, int requests, int rows, double computeMs, double queueMs)
    {
        var tags = new TagList { _silo, { MeshTelemetry.Tags.Caller, caller } };
        _usageRequests.Add(requests, tags);
        _usageRows.Add(rows, tags);
        _usageCompute.Add(computeMs, tags);
        _usageQueue.Add(queueMs, tags);
    }

    public void SessionLoaded(string model, int version) =>
        _loadedSessions.Add(1, new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version } });

    public void SessionUnloaded(string model, int version) =>
        _loadedSessions.Add(-1, new TagList { _silo, { MeshTelemetry.Tags.Model, model }, { MeshTelemetry.Tags.Version, version } });
}
