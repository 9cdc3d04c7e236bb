using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;

namespace Mesh.Edge.Drift;

/// <summary>
/// Running statistics of every model's inputs on this device since the bridge started (the epoch), shipped with
/// sync. Cumulative per epoch, so a report sent twice, or lost, changes nothing in the mesh: the next one carries
/// everything. Statistics of a run cut short by a crash after its last report are not recovered (they are a
/// sample, not results).
/// </summary>
public sealed class DriftStatistics
{
    private readonly Dictionary<string, FeatureStatisticsBuilder> _models = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _observed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _reported = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _taken = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public string Epoch { get; } = Guid.NewGuid().ToString("N");

    public void Observe(string model, IReadOnlyList<NamedTensor> inputs)
    {
        lock (_lock)
        {
            if (!_models.TryGetValue(model, out var builder)) _models[model] = builder = new FeatureStatisticsBuilder();
            builder.Add(inputs);
            _observed[model] = _observed.GetValueOrDefault(model) + 1;
        }
    }

    /// <summary>The models whose statistics changed since they were last acknowledged.</summary>
    public DriftSample[] Changed()
    {
        lock (_lock)
        {
            var changed = _models.Where(m => _observed[m.Key] != _reported.GetValueOrDefault(m.Key) && !m.Value.IsEmpty).ToArray();
            foreach (var (model, _) in changed) _taken[model] = _observed[model];
            return changed.Select(m => new DriftSample(m.Key, Epoch, m.Value.Build())).ToArray();
        }
    }

    /// <summary>Marks what the mesh took; the count is what <see cref="Changed"/> compared against.</summary>
    public void Acknowledge(IEnumerable<DriftSample> sent)
    {
        lock (_lock)
        {
            foreach (var sample in sent) _reported[sample.Model] = _taken[sample.Model];
        }
    }
}
