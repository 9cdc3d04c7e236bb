using System.Runtime.InteropServices;
using System.Text;

namespace Mesh.Abstractions.Tensors;

/// <summary>
/// A named tensor as it crosses every boundary of the mesh: a shape, an element type and one contiguous
/// row-major buffer. Numbers travel as bytes because Orleans writes a float[] element by element
/// (17-20x slower for a round trip, see docs/measurements.md); strings travel as a string array.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record NamedTensor(string Name, TensorElementType ElementType, long[] Shape, byte[] Data, string[]? Strings = null)
{
    /// <summary>Number of elements the shape describes.</summary>
    public long ElementCount => ShapeElementCount(Shape);

    public static long ShapeElementCount(IReadOnlyList<long> shape)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        return count;
    }

    public static NamedTensor Create<T>(string name, long[] shape, ReadOnlySpan<T> values) where T : unmanaged =>
        new(name, ElementTypeOf<T>(), shape, MemoryMarshal.AsBytes(values).ToArray());

    public static NamedTensor Create<T>(string name, long[] shape, T[] values) where T : unmanaged =>
        Create(name, shape, (ReadOnlySpan<T>)values);

    public static NamedTensor FromStrings(string name, long[] shape, string[] values) =>
        new(name, TensorElementType.String, shape, [], values);

    /// <summary>The values reinterpreted as <typeparamref name="T"/>; the element type must match.</summary>
    public ReadOnlySpan<T> AsSpan<T>() where T : unmanaged
    {
        var expected = ElementTypeOf<T>();
        if (expected != ElementType && !(typeof(T) == typeof(byte) && ElementType is TensorElementType.UInt8 or TensorElementType.Bool))
            throw new InvalidOperationException($"tensor '{Name}' holds {ElementType.DisplayName()}, not {expected.DisplayName()}");
        return MemoryMarshal.Cast<byte, T>(Data);
    }

    public T[] ToArray<T>() where T : unmanaged => AsSpan<T>().ToArray();

    public static TensorElementType ElementTypeOf<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? TensorElementType.Float32
        : typeof(T) == typeof(double) ? TensorElementType.Float64
        : typeof(T) == typeof(Half) ? TensorElementType.Float16
        : typeof(T) == typeof(sbyte) ? TensorElementType.Int8
        : typeof(T) == typeof(short) ? TensorElementType.Int16
        : typeof(T) == typeof(int) ? TensorElementType.Int32
        : typeof(T) == typeof(long) ? TensorElementType.Int64
        : typeof(T) == typeof(byte) ? TensorElementType.UInt8
        : typeof(T) == typeof(ushort) ? TensorElementType.UInt16
        : typeof(T) == typeof(uint) ? TensorElementType.UInt32
        : typeof(T) == typeof(ulong) ? TensorElementType.UInt64
        : typeof(T) == typeof(bool) ? TensorElementType.Bool
        : throw new NotSupportedException($"{typeof(T).Name} is not a tensor element type");

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(Name).Append(": ").Append(ElementType.DisplayName()).Append(' ').Append(ShapeText(Shape));
        return text.ToString();
    }

    /// <summary>Shape as messages print it: [2,64], with -1 for a symbolic dimension.</summary>
    public static string ShapeText(IEnumerable<long> shape) => "[" + string.Join(",", shape) + "]";
}
