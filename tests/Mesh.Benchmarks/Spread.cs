namespace Mesh.Benchmarks;

/// <summary>How a figure that moves from run to run is reported: min / median / max, never one lucky run.</summary>
public static class Spread
{
    public static string MinMedianMax(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? "n/a" : $"{sorted[0]:F0} / {sorted[sorted.Length / 2]:F0} / {sorted[^1]:F0}";
    }
}
