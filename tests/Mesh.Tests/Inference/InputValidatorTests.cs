using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;
using Mesh.Inference.Validation;

namespace Mesh.Tests.Inference;

public class InputValidatorTests
{
    private static readonly ModelSignature Signature = new(
        [
            new TensorSpec("x", TensorElementType.Float32, [-1, 4], ["batch", null]),
            new TensorSpec("mask", TensorElementType.Int64, [-1, 4], ["batch", null]),
        ],
        [new TensorSpec("y", TensorElementType.Float32, [-1, 2], ["batch", null])]);

    private static NamedTensor X(long rows = 2) => NamedTensor.Create("x", [rows, 4], new float[rows * 4]);
    private static NamedTensor Mask(long rows = 2) => NamedTensor.Create("mask", [rows, 4], new long[rows * 4]);

    private static T Rejects<T>(params NamedTensor[] inputs) where T : InvalidInputException =>
        Assert.Throws<T>(() => InputValidator.Validate("m", Signature, inputs));

    [Fact]
    public void Valid_inputs_pass_with_any_batch_size()
    {
        InputValidator.Validate("m", Signature, [X(1), Mask(1)]);
        InputValidator.Validate("m", Signature, [Mask(64), X(64)]);
    }

    [Fact]
    public void Unknown_input_names_the_input_and_the_known_ones()
    {
        var e = Rejects<UnknownInputException>(X(), Mask(), NamedTensor.Create("z", [1], new float[1]));
        Assert.Equal("z", e.Input);
        Assert.Contains("input 'z'", e.Message);
        Assert.Contains("x, mask", e.Message);
    }

    [Fact]
    public void Missing_input_is_named()
    {
        var e = Rejects<MissingInputException>(X());
        Assert.Equal("input 'mask': required by model 'm' but not given", e.Message);
    }

    [Fact]
    public void Duplicate_input_is_rejected()
    {
        Assert.Equal("x", Rejects<DuplicateInputException>(X(), X(), Mask()).Input);
    }

    [Fact]
    public void Wrong_element_type_says_expected_and_actual()
    {
        var e = Rejects<InputElementTypeException>(NamedTensor.Create("x", [2, 4], new double[8]), Mask());
        Assert.Equal("input 'x': expected element type float32, got float64", e.Message);
    }

    [Fact]
    public void Wrong_rank_says_expected_and_actual_shapes()
    {
        var e = Rejects<InputRankException>(NamedTensor.Create("x", [8], new float[8]), Mask());
        Assert.Equal("input 'x': expected rank 2 (shape [-1,4]), got rank 1 (shape [8])", e.Message);
    }

    [Fact]
    public void Fixed_dimension_that_differs_is_named_by_index()
    {
        var e = Rejects<InputDimensionException>(NamedTensor.Create("x", [2, 3], new float[6]), Mask());
        Assert.Equal((1, 4L, 3L), (e.Dimension, e.Expected, e.Actual));
        Assert.Contains("input 'x': dimension 1 must be 4, got 3", e.Message);
    }

    [Fact]
    public void Byte_length_must_match_shape_times_element_size()
    {
        var e = Rejects<InputByteLengthException>(new NamedTensor("x", TensorElementType.Float32, [2, 4], new byte[31]), Mask());
        Assert.Equal((32L, 31L), (e.ExpectedBytes, e.ActualBytes));
        Assert.Contains("input 'x': expected 32 bytes", e.Message);
    }

    [Fact]
    public void Negative_dimension_in_a_request_is_rejected()
    {
        Rejects<InputShapeException>(new NamedTensor("x", TensorElementType.Float32, [-1, 4], new byte[16]), Mask());
    }

    [Fact]
    public void String_tensors_count_strings_not_bytes()
    {
        var signature = new ModelSignature([new TensorSpec("s", TensorElementType.String, [-1, 1], ["n", null])], []);
        InputValidator.Validate("m", signature, [NamedTensor.FromStrings("s", [2, 1], ["a", "b"])]);
        var e = Assert.Throws<InputByteLengthException>(() => InputValidator.Validate("m", signature, [NamedTensor.FromStrings("s", [2, 1], ["a"])]));
        Assert.Contains("2 strings", e.Message);
    }
}
