using Mesh.Abstractions.Tensors;

namespace Mesh.Abstractions.Models;

/// <summary>What kind of value a model input or output is. Predict serves tensors; the others are listed so a user sees them.</summary>
public enum ValueKind
{
    Tensor = 0,
    Sequence = 1,
    Map = 2,
    Optional = 3,
}

/// <summary>
/// One input or output of a model as ONNX Runtime reads it. <see cref="Shape"/> holds -1 for a symbolic
/// dimension, whose name (e.g. "batch") is in <see cref="DimensionNames"/> at the same index.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TensorSpec(string Name, TensorElementType ElementType, long[] Shape, string?[] DimensionNames, ValueKind Kind = ValueKind.Tensor)
{
    public int Rank => Shape.Length;

    /// <summary>True when the first dimension is symbolic, so rows can be stacked into one run.</summary>
    public bool HasSymbolicBatch => Shape.Length > 0 && Shape[0] < 0;

    public override string ToString() =>
        Kind == ValueKind.Tensor
            ? $"{Name}: {ElementType.DisplayName()} [{string.Join(",", Shape.Select((d, i) => d >= 0 ? d.ToString() : DimensionNames[i] ?? "?"))}]"
            : $"{Name}: {Kind.ToString().ToLowerInvariant()}";
}

/// <summary>The inputs and outputs of a model version.</summary>
[GenerateSerializer, Immutable]
public sealed record ModelSignature(TensorSpec[] Inputs, TensorSpec[] Outputs)
{
    public TensorSpec? FindInput(string name) => Array.Find(Inputs, i => i.Name == name);
    public TensorSpec? FindOutput(string name) => Array.Find(Outputs, o => o.Name == name);

    /// <summary>Rows can be stacked into one run only if every input and tensor output is per-row (symbolic first dimension).</summary>
    public bool IsBatchable =>
        Inputs.All(i => i.Kind == ValueKind.Tensor && i.HasSymbolicBatch)
        && Outputs.Where(o => o.Kind == ValueKind.Tensor).All(o => o.HasSymbolicBatch);
}
