using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Mesh.Abstractions.Telemetry;

namespace Mesh.IntegrationTests.Infrastructure;

/// <summary>
/// Listens to the <c>Mesh</c> meter of every silo in this process, as an exporter would, and sums
/// measurements per instrument and model. Tests use their own model names, so parallel tests do not mix.
/// </summary>
public sealed class MeshMeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, string? Model, double Value, KeyValuePair<string, object?>[] Tags)> _measurements = new();

    public MeshMeterRecorder()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeshTelemetry.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? model = null;
        foreach (var tag in tags)
        {
            if (tag.Key == MeshTelemetry.Tags.Model) model = tag.Value as string;
        }
        _measurements.Enqueue((instrument.Name, model, value, tags.ToArray()));
    }

    public double Sum(string instrument, string model) =>
        _measurements.Where(m => m.Instrument == instrument && m.Model == model).Sum(m => m.Value);

    /// <summary>The sum of the measurements that also carry the tag <paramref name="tag"/>.</summary>
    public double Sum(string instrument, string model, (string Key, string Value) tag) =>
        _measurements.Where(m => m.Instrument == instrument && m.Model == model && m.Tags.Any(t => t.Key == tag.Key && Equals(t.Value, tag.Value))).Sum(m => m.Value);

    public double[] Values(string instrument, string model) =>
        _measurements.Where(m => m.Instrument == instrument && m.Model == model).Select(m => m.Value).ToArray();

    public int Count(string instrument, string model) =>
        _measurements.Count(m => m.Instrument == instrument && m.Model == model);

    public double Max(string instrument, string model) =>
        _measurements.Where(m => m.Instrument == instrument && m.Model == model).Select(m => m.Value).DefaultIfEmpty(0).Max();

    public long ColdStarts(string model) => (long)Sum(MeshTelemetry.Instruments.ColdStarts, model);
    public long LoadedSessions(string model) => (long)Sum(MeshTelemetry.Instruments.LoadedSessions, model);

    public void Dispose() => _listener.Dispose();
}
