using System.Collections.Concurrent;
using Mesh.Abstractions.Grains;

namespace Mesh.Grains.Telemetry;

/// <summary>
/// The silo's own predict figures for the console: totals per model (fed with the same calls as the meter, so
/// they agree with the scrape) and the latencies of the most recent predicts for percentiles.
/// </summary>
public sealed class TrafficStats
{
    private const int Recent = 1024;
    private readonly ConcurrentDictionary<string, Model> _models = new(StringComparer.Ordinal);

    public void Predicted(string model, bool success, double milliseconds, int requests)
    {
        var m = _models.GetOrAdd(model, _ => new Model());
        lock (m)
        {
            m.Requests += requests;
            if (!success) m.Failures += requests;
            for (var i = 0; i < requests; i++)
            {
                m.Latencies[m.Next] = milliseconds;
                m.Next = (m.Next + 1) % Recent;
                m.Filled = Math.Min(Recent, m.Filled + 1);
            }
        }
    }

    public void ColdStart(string model)
    {
        var m = _models.GetOrAdd(model, _ => new Model());
        lock (m) m.ColdStarts++;
    }

    public void ShadowCompared(string model, int servedVersion, int shadowVersion, string outcome)
    {
        var m = _models.GetOrAdd(model, _ => new Model());
        lock (m)
        {
            var key = (servedVersion, shadowVersion);
            var (agreed, disagreed, errors) = m.Shadows.GetValueOrDefault(key);
            m.Shadows[key] = outcome switch
            {
                "agree" => (agreed + 1, disagreed, errors),
                "disagree" => (agreed, disagreed + 1, errors),
                _ => (agreed, disagreed, errors + 1),
            };
        }
    }

    /// <summary>Every model's figures; the rate is over the time since the previous snapshot.</summary>
    public ModelTraffic[] Snapshot(DateTimeOffset now)
    {
        var result = new List<ModelTraffic>(_models.Count);
        foreach (var (name, m) in _models.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            lock (m)
            {
                var sorted = m.Latencies.AsSpan(0, m.Filled).ToArray();
                Array.Sort(sorted);
                var seconds = m.SnapshotAt is { } before ? (now - before).TotalSeconds : 0;
                var rate = seconds > 0 ? (m.Requests - m.SnapshotRequests) / seconds : 0;
                (m.SnapshotAt, m.SnapshotRequests) = (now, m.Requests);
                result.Add(new ModelTraffic(name, m.Requests, m.Failures, m.ColdStarts, rate,
                    Percentile(sorted, 0.50), Percentile(sorted, 0.95), Percentile(sorted, 0.99),
                    m.Shadows.Count == 0 ? null : m.Shadows.Select(s => new ShadowTally(s.Key.Served, s.Key.Shadow, s.Value.Agreed, s.Value.Disagreed, s.Value.Errors)).ToArray()));
            }
        }
        return result.ToArray();
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    private sealed class Model
    {
        public long Requests, Failures, ColdStarts, SnapshotRequests;
        public DateTimeOffset? SnapshotAt;
        public readonly double[] Latencies = new double[Recent];
        public int Next, Filled;
        public readonly Dictionary<(int Served, int Shadow), (long Agreed, long Disagreed, long Errors)> Shadows = [];
    }
}
