using Mesh.Abstractions.Tensors;

namespace Mesh.Grains.Inference;

/// <summary>
/// Whether two versions answered a predict alike (for shadow traffic): the same outputs, shapes and types, equal
/// values for integers and strings, and floating-point values within 1e-4 absolute plus 1e-3 relative, since a
/// retrained or re-optimized version is not expected to match bit for bit.
/// </summary>
public static class OutputComparison
{
    private const double Absolute = 1e-4;
    private const double Relative = 1e-3;

    public static bool Agree(NamedTensor[] expected, NamedTensor[] actual)
    {
        if (expected.Length != actual.Length) return false;
        foreach (var e in expected)
        {
            var a = Array.Find(actual, t => t.Name == e.Name);
            if (a is null || a.ElementType != e.ElementType || !a.Shape.AsSpan().SequenceEqual(e.Shape)) return false;
            var same = e.ElementType switch
            {
                TensorElementType.Float32 => Close(e.AsSpan<float>(), a.AsSpan<float>()),
                TensorElementType.Float64 => Close(e.AsSpan<double>(), a.AsSpan<double>()),
                TensorElementType.String => e.Strings!.AsSpan().SequenceEqual(a.Strings!),
                _ => e.Data.AsSpan().SequenceEqual(a.Data),
            };
            if (!same) return false;
        }
        return true;
    }

    private static bool Close(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length) return false;
        for (var i = 0; i < x.Length; i++)
        {
            if (!(Math.Abs(x[i] - y[i]) <= Absolute + Relative * Math.Abs(x[i]))) return false;
        }
        return true;
    }

    private static bool Close(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        if (x.Length != y.Length) return false;
        for (var i = 0; i < x.Length; i++)
        {
            if (!(Math.Abs(x[i] - y[i]) <= Absolute + Relative * Math.Abs(x[i]))) return false;
        }
        return true;
    }
}
