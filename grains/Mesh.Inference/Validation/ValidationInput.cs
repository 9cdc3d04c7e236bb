using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;

namespace Mesh.Inference.Validation;

/// <summary>
/// A fixed input that fits a signature, for checking that a model gives the same answer in two places (the
/// mesh and a device after an over-the-air update). Floating-point inputs get seeded values in [-1, 1] (all
/// zeros would hide most weights), other types zeros.
/// </summary>
public static class ValidationInput
{
    /// <summary><paramref name="rows"/> rows (the first dimension), 1 for every other symbolic dimension.</summary>
    public static NamedTensor[] For(ModelSignature signature, int rows = 1, int seed = 20261126)
    {
        var random = new Random(seed);
        return WarmupInput.For(signature).Select(one =>
        {
            var shape = one.Shape.ToArray();
            if (shape.Length > 0) shape[0] *= rows;
            var count = (int)NamedTensor.ShapeElementCount(shape);
            return one.ElementType switch
            {
                TensorElementType.Float32 => NamedTensor.Create(one.Name, shape, Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()),
                TensorElementType.Float64 => NamedTensor.Create(one.Name, shape, Enumerable.Range(0, count).Select(_ => random.NextDouble() * 2 - 1).ToArray()),
                TensorElementType.String => NamedTensor.FromStrings(one.Name, shape, new string[count].Select(_ => "").ToArray()),
                _ => new NamedTensor(one.Name, one.ElementType, shape, new byte[count * one.ElementType.ByteSize()]),
            };
        }).ToArray();
    }
}
