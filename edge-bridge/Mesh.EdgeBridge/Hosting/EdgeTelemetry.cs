using System.Diagnostics;
using Mesh.Abstractions.Telemetry;

namespace Mesh.EdgeBridge.Hosting;

/// <summary>
/// The bridge's spans. Their contexts travel with the results (in the outbox and the sync batch), so the mesh's
/// handling of a result joins the trace of the predict that made it. The bridge exports nothing itself; it always
/// records its spans (a few hundred bytes each) so that the contexts it hands on say "sampled" and the mesh keeps its
/// half of the trace.
/// </summary>
public static class EdgeTelemetry
{
    public static readonly ActivitySource Source = new(MeshTelemetry.EdgeSourceName);

    private static ActivityListener? _listener;

    /// <summary>Turns the bridge's spans on, and ASP.NET Core's request spans, which carry a caller's traceparent header.</summary>
    public static void Start()
    {
        if (_listener is not null) return;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is MeshTelemetry.EdgeSourceName or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(_listener);
    }
}
