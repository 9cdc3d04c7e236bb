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
    public static NamedTensor[] For(ModelSignature signature, int seed = 20261126)
    {
        var random = new Random(seed);
        return WarmupInput.For(signature).Select(input => input.ElementType switch
        {
            TensorElementType.Float32 => NamedTensor.Create(input.Name, input.Shape, Enumerable.Range(0, (int)input.ElementCount).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()),
            TensorElementType.Float64 => NamedTensor.Create(input.Name, input.Shape, Enumerable.Range(0, (int)input.ElementCount).Select(_ => random.NextDouble() * 2 - 1).ToArray()),
            _ => input,
        }).ToArray();
    }
}
