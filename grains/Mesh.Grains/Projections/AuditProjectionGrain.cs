using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Grains.Events;
using Microsoft.Extensions.Logging;

namespace Mesh.Grains.Projections;

/// <summary>
/// The audit log of changes to models and devices, newest <see cref="IAuditProjectionGrain.MaxEntries"/> kept
/// (the event store keeps every one; <c>mesh events</c> reads them all). Usage records are not changes anyone
/// made, so they stay out.
/// </summary>
[ImplicitStreamSubscription(EventFeed.Namespace)]
public sealed class AuditProjectionGrain(IEventStore store, ILogger<AuditProjectionGrain> logger)
    : ProjectionGrain<List<AuditEntry>>(store, logger), IAuditProjectionGrain
{
    protected override string Name => "audit";

    protected override void Apply(EventEnvelope envelope)
    {
        // Changes people and devices made, not the data that flows: usage counts, fleet aggregates, synced results
        // and input statistics would push every change out of the newest 10,000.
        if (envelope.Stream.StartsWith(EventStreams.UsagePrefix, StringComparison.Ordinal) || envelope.Stream.StartsWith(EventStreams.FleetPrefix, StringComparison.Ordinal)) return;
        if (envelope.Type is "device.results-synced" or "device.drift-reported") return;
        View.Add(new AuditEntry(envelope.Position, envelope.Timestamp, envelope.Actor, envelope.Region, envelope.Stream, envelope.Type, Summarize(envelope)));
        if (View.Count > IAuditProjectionGrain.MaxEntries) View.RemoveRange(0, View.Count - IAuditProjectionGrain.MaxEntries);
    }

    // One readable line per change. Every stored type has its own wording (a test holds every codec type to it),
    // so the log never shows a CLR type name.
    internal static string Summarize(EventEnvelope envelope) => EventCodec.Decode(envelope) switch
    {
        ModelVersionRegistered r => $"version {r.Version} registered (sha256 {r.ArtifactSha256[..12]}, {r.ArtifactBytes} bytes" +
                                    (r.Lineage.ParentVersion is int p ? $", parent {p}" : "") + (r.Lineage.Optimization is { } o ? $", {o}" : "") + ")",
        ModelVersionPromoted p => $"version {p.Version} takes all traffic",
        ModelTrafficSplitSet s => "traffic " + string.Join(" ", s.Weights.Select(w => $"v{w.Version}={w.Percent}%")),
        ModelShadowSet s => s.Version is int v ? $"version {v} shadows every predict" : "shadow off",
        ModelRolledBack r => $"rolled back from version {r.FromVersion} to {r.ToVersion}",
        ModelVersionRetired r => $"version {r.Version} retired",
        ModelPolicyChanged p => $"policy: max batch {p.Policy.MaxBatchSize}, queue {p.Policy.MaxQueueSize}, min warm {p.Policy.MinWarm}",
        ModelResidencySet r => r.Regions is { Length: > 0 } regions ? $"pinned to {string.Join(", ", regions)}" : "residency lifted",
        ModelServingSet s => s.Serving ? "loaded: serves again" : "unloaded: refuses predicts until loaded",
        ModelDriftBaselineSet b => $"drift baseline set ({b.Baseline.Features.Length} features, threshold PSI {b.Baseline.Threshold})",
        DeviceRegistered r => $"device registered, home region {r.HomeRegion}, models {(r.Models.Length == 0 ? "none" : string.Join(", ", r.Models))}",
        DeviceDesiredSet d => "desired " + string.Join(", ", d.Properties.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}")),
        DeviceReported r => $"reported {r.Properties.Count} propert{(r.Properties.Count == 1 ? "y" : "ies")}",
        DeviceTokenIssued => "sync token issued",
        DeviceResultsSynced s => $"{s.Results.Length} results synced",
        DeviceResultsLost l => $"results {l.From}-{l.To} lost on the device ({l.Reason})",
        DeviceDriftReported d => $"input statistics for {d.Model}",
        DeviceDriftDetected d => $"drift detected on {d.Model}: {d.Input}[{d.Feature}] PSI {d.Psi:F3} over {d.Samples} rows",
        DeviceDriftCleared d => $"drift cleared on {d.Model}: PSI {d.Psi:F3} over {d.Samples} rows",
        UsageRecorded u => $"usage of {u.Usage.Length} caller(s)",
        FleetSummaryRecorded f => $"fleet summary of {f.Summary.Region}",
        _ => envelope.Type,
    };

    public async Task<AuditEntry[]> QueryAsync(string? model = null, string? actor = null, int limit = 100)
    {
        var stream = model is null ? null : EventStreams.Model(model);
        return (await CurrentAsync())
            .Where(e => (stream is null || e.Stream == stream) && (actor is null || e.Actor == actor))
            .TakeLast(Math.Clamp(limit, 1, IAuditProjectionGrain.MaxEntries))
            .ToArray();
    }
}
