using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;

namespace Mesh.Inference.Validation;

/// <summary>An all-zero input that fits a signature (one row, 1 for every symbolic dimension, empty strings).</summary>
public static class WarmupInput
{
    public static NamedTensor[] For(ModelSignature signature) => signature.Inputs
        .Where(i => i.Kind == ValueKind.Tensor)
        .Select(i =>
        {
            var shape = i.Shape.Select(d => d < 0 ? 1 : d).ToArray();
            var count = NamedTensor.ShapeElementCount(shape);
            return i.ElementType == TensorElementType.String
                ? NamedTensor.FromStrings(i.Name, shape, Enumerable.Repeat("", (int)count).ToArray())
                : new NamedTensor(i.Name, i.ElementType, shape, new byte[count * i.ElementType.ByteSize()]);
        })
        .ToArray();
}
