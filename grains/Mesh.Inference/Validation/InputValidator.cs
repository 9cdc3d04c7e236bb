using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;

namespace Mesh.Inference.Validation;

/// <summary>
/// Checks a predict's inputs against a model's signature before anything reaches ONNX Runtime, so a bad
/// request fails alone with an error that names the input and the rule, and the session never sees it.
/// </summary>
public static class InputValidator
{
    public static void Validate(string model, ModelSignature signature, IReadOnlyList<NamedTensor> inputs)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            if (!seen.Add(input.Name))
                throw new DuplicateInputException(input.Name);
            var spec = signature.FindInput(input.Name)
                ?? throw new UnknownInputException(model, input.Name, signature.Inputs.Select(i => i.Name).ToArray());
            ValidateOne(spec, input);
        }

        foreach (var spec in signature.Inputs)
        {
            if (!seen.Contains(spec.Name))
                throw new MissingInputException(model, spec.Name);
        }
    }

    private static void ValidateOne(TensorSpec spec, NamedTensor input)
    {
        if (input.ElementType != spec.ElementType)
            throw new InputElementTypeException(input.Name, spec.ElementType, input.ElementType);

        var shape = input.Shape ?? [];
        if (shape.Any(d => d < 0))
            throw new InputShapeException(input.Name, shape);
        if (shape.Length != spec.Rank)
            throw new InputRankException(input.Name, spec.Shape, shape);
        for (var i = 0; i < shape.Length; i++)
        {
            if (spec.Shape[i] >= 0 && spec.Shape[i] != shape[i])
                throw new InputDimensionException(input.Name, i, spec.Shape, shape);
        }

        var count = NamedTensor.ShapeElementCount(shape);
        if (spec.ElementType == TensorElementType.String)
        {
            var actual = input.Strings?.Length ?? 0;
            if (actual != count)
                throw new InputByteLengthException(input.Name, count, actual, $"{count} strings for shape {NamedTensor.ShapeText(shape)}");
            return;
        }

        var size = spec.ElementType.ByteSize();
        var expectedBytes = count * size;
        var actualBytes = input.Data?.LongLength ?? 0;
        if (actualBytes != expectedBytes)
            throw new InputByteLengthException(input.Name, expectedBytes, actualBytes,
                $"{count} elements of shape {NamedTensor.ShapeText(shape)} x {size} bytes of {spec.ElementType.DisplayName()}");
    }
}
