using Mesh.Abstractions.Tensors;

namespace Mesh.Abstractions.Models;

/// <summary>
/// Running statistics of one input feature (an input's element at one position of a row): count, mean, the sum
/// of squared deviations (Welford; variance = M2 / (Count - 1)) and a histogram over <see cref="DriftBins"/>.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record FeatureStatistics(string Input, int Feature, long Count, double Mean, double M2, long[] Bins)
{
    public double Variance => Count > 1 ? M2 / (Count - 1) : 0;

    /// <summary>Both sets of observations as one (Chan et al.'s parallel form of Welford's update).</summary>
    public FeatureStatistics Merge(FeatureStatistics other)
    {
        if (other.Count == 0) return this;
        if (Count == 0) return other;
        var count = Count + other.Count;
        var delta = other.Mean - Mean;
        var mean = Mean + delta * other.Count / count;
        var m2 = M2 + other.M2 + delta * delta * Count * other.Count / count;
        return new FeatureStatistics(Input, Feature, count, mean, m2, Bins.Zip(other.Bins, (a, b) => a + b).ToArray());
    }
}

/// <summary>
/// The fixed histogram bins every device and every baseline use, so any two histograms compare without agreeing
/// on edges first: one bin for |x| below 1/16, then one per power of two up to 256 on each side, and one for each
/// tail (27 bins). Sized for normalised features (most mass within a few units of zero); finer bins near zero
/// made the PSI of two samples of one distribution noisy (0.16 for 600 rows against 2,000, measured).
/// </summary>
public static class DriftBins
{
    public const int Count = 27;
    private const int Center = 13;
    private const int Octaves = 12;    // 2^-4 .. 2^8

    public static int Of(double value)
    {
        if (double.IsNaN(value)) return Center;
        var magnitude = Math.Abs(value);
        if (magnitude < 1.0 / 16) return Center;
        // log2 in [-4, 8) maps to 1..12; 2^8 and beyond to 13 (the tail).
        var octave = Math.Clamp((int)Math.Floor(Math.Log2(magnitude)) + 5, 1, Octaves + 1);
        return value > 0 ? Center + octave : Center - octave;
    }

    /// <summary>
    /// Population stability index of <paramref name="actual"/> against <paramref name="baseline"/>:
    /// sum over bins of (a - b) ln(a / b) with each bin's share; empty bins count as 0.0001. Above 0.2 is the
    /// usual "significant shift".
    /// </summary>
    public static double Psi(long[] baseline, long[] actual)
    {
        double b = baseline.Sum(), a = actual.Sum();
        if (a == 0 || b == 0) return 0;
        const double Floor = 1e-4;
        double psi = 0;
        for (var i = 0; i < Count; i++)
        {
            var pb = Math.Max(baseline[i] / b, Floor);
            var pa = Math.Max(actual[i] / a, Floor);
            psi += (pa - pb) * Math.Log(pa / pb);
        }
        return psi;
    }
}

/// <summary>Accumulates <see cref="FeatureStatistics"/> from float inputs: rows are the first dimension, features the rest (at most 256 per input).</summary>
public sealed class FeatureStatisticsBuilder
{
    public const int MaxFeaturesPerInput = 256;
    private readonly Dictionary<(string Input, int Feature), Accumulator> _features = [];

    private sealed class Accumulator
    {
        public long Count;
        public double Mean, M2;
        public readonly long[] Bins = new long[DriftBins.Count];
    }

    public void Add(IEnumerable<NamedTensor> inputs)
    {
        foreach (var input in inputs)
        {
            if (input.ElementType is not (TensorElementType.Float32 or TensorElementType.Float64) || input.Shape.Length == 0) continue;
            var width = (int)Math.Max(1, input.Shape.Skip(1).Aggregate(1L, (a, d) => a * d));
            var tracked = Math.Min(width, MaxFeaturesPerInput);
            // On the bridge's predict path: read in place, no copy.
            if (input.ElementType == TensorElementType.Float32)
            {
                var values = input.AsSpan<float>();
                for (var at = 0; at < values.Length; at++) Observe(input.Name, at % width, tracked, values[at]);
            }
            else
            {
                var values = input.AsSpan<double>();
                for (var at = 0; at < values.Length; at++) Observe(input.Name, at % width, tracked, values[at]);
            }
        }
    }

    private void Observe(string input, int feature, int tracked, double value)
    {
        if (feature >= tracked) return;
        if (!_features.TryGetValue((input, feature), out var acc)) _features[(input, feature)] = acc = new Accumulator();
        acc.Count++;
        var delta = value - acc.Mean;
        acc.Mean += delta / acc.Count;
        acc.M2 += delta * (value - acc.Mean);
        acc.Bins[DriftBins.Of(value)]++;
    }

    public bool IsEmpty => _features.Count == 0;

    public FeatureStatistics[] Build() => _features
        .OrderBy(f => f.Key.Input, StringComparer.Ordinal).ThenBy(f => f.Key.Feature)
        .Select(f => new FeatureStatistics(f.Key.Input, f.Key.Feature, f.Value.Count, f.Value.Mean, f.Value.M2, (long[])f.Value.Bins.Clone()))
        .ToArray();
}

/// <summary>A model's reference distribution for drift checks, set from a sample of its training inputs.</summary>
[GenerateSerializer, Immutable]
public sealed record DriftBaseline(FeatureStatistics[] Features, double Threshold = DriftBaseline.DefaultThreshold, long MinSamples = DriftBaseline.DefaultMinSamples)
{
    public const double DefaultThreshold = 0.2;
    // Fewer rows make the PSI of an unshifted sample noisy: max over 64 features reached 0.2 at about 250 rows (27 bins).
    public const long DefaultMinSamples = 1000;
}

/// <summary>How one device's inputs for a model compare with the model's baseline.</summary>
[GenerateSerializer, Immutable]
public sealed record DriftReport(string Device, string Model, long Samples, double MaxPsi, string? Input, int? Feature, bool Drifting);
