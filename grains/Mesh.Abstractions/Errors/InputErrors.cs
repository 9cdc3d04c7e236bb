using Mesh.Abstractions.Tensors;

namespace Mesh.Abstractions.Errors;

/// <summary>A predict input breaks the model's signature. <see cref="Input"/> names the input.</summary>
[GenerateSerializer]
public abstract class InvalidInputException(string input, string message) : MeshInvalidArgumentException(message)
{
    [Id(0)] public string Input { get; } = input;
}

[GenerateSerializer]
public sealed class UnknownInputException(string model, string input, string[] expectedInputs)
    : InvalidInputException(input, $"input '{input}': model '{model}' has no such input (inputs: {string.Join(", ", expectedInputs)})");

[GenerateSerializer]
public sealed class MissingInputException(string model, string input)
    : InvalidInputException(input, $"input '{input}': required by model '{model}' but not given");

[GenerateSerializer]
public sealed class DuplicateInputException(string input)
    : InvalidInputException(input, $"input '{input}': given more than once");

[GenerateSerializer]
public sealed class InputElementTypeException(string input, TensorElementType expected, TensorElementType actual)
    : InvalidInputException(input, $"input '{input}': expected element type {expected.DisplayName()}, got {actual.DisplayName()}")
{
    [Id(0)] public TensorElementType Expected { get; } = expected;
    [Id(1)] public TensorElementType Actual { get; } = actual;
}

[GenerateSerializer]
public sealed class InputRankException(string input, long[] expectedShape, long[] actualShape)
    : InvalidInputException(input, $"input '{input}': expected rank {expectedShape.Length} (shape {NamedTensor.ShapeText(expectedShape)}), got rank {actualShape.Length} (shape {NamedTensor.ShapeText(actualShape)})")
{
    [Id(0)] public int ExpectedRank { get; } = expectedShape.Length;
    [Id(1)] public int ActualRank { get; } = actualShape.Length;
}

[GenerateSerializer]
public sealed class InputDimensionException(string input, int dimension, long[] expectedShape, long[] actualShape)
    : InvalidInputException(input, $"input '{input}': dimension {dimension} must be {expectedShape[dimension]}, got {actualShape[dimension]} (expected shape {NamedTensor.ShapeText(expectedShape)}, got {NamedTensor.ShapeText(actualShape)})")
{
    [Id(0)] public int Dimension { get; } = dimension;
    [Id(1)] public long Expected { get; } = expectedShape[dimension];
    [Id(2)] public long Actual { get; } = actualShape[dimension];
}

/// <summary>A negative dimension in a request: only models may have symbolic dimensions.</summary>
[GenerateSerializer]
public sealed class InputShapeException(string input, long[] actualShape)
    : InvalidInputException(input, $"input '{input}': shape {NamedTensor.ShapeText(actualShape)} has a negative dimension");

[GenerateSerializer]
public sealed class InputByteLengthException(string input, long expectedBytes, long actualBytes, string rule)
    : InvalidInputException(input, $"input '{input}': expected {expectedBytes} bytes ({rule}), got {actualBytes}")
{
    [Id(0)] public long ExpectedBytes { get; } = expectedBytes;
    [Id(1)] public long ActualBytes { get; } = actualBytes;
}

[GenerateSerializer]
public sealed class UnknownOutputException(string model, string output, string[] availableOutputs)
    : MeshInvalidArgumentException($"output '{output}': model '{model}' has no tensor output of that name (outputs: {string.Join(", ", availableOutputs)})")
{
    [Id(0)] public string Output { get; } = output;
}

/// <summary>A tensor written as text (JSON, command line) that cannot be read: a value of the wrong kind or count.</summary>
[GenerateSerializer]
public sealed class InvalidTensorValueException(string input, string rule)
    : InvalidInputException(input, $"input '{input}': {rule}");

/// <summary>A request body that is not the JSON the protocol describes; <see cref="Field"/> names where.</summary>
[GenerateSerializer]
public sealed class InvalidRequestException(string field, string rule)
    : MeshInvalidArgumentException($"request field '{field}': {rule}")
{
    [Id(0)] public string Field { get; } = field;
}
