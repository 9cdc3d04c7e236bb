using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;
using Mesh.Inference.Sessions;
using Mesh.SampleModels;

namespace Mesh.Tests.Inference;

public class OnnxModelSessionTests
{
    private static readonly OnnxSessionSettings Settings = new();

    [Fact]
    public void Signature_reports_names_types_and_symbolic_batch_dimension()
    {
        var signature = ModelSignatureReader.Read("mlp", MlpModel.Build(new MlpModel.Options(Hidden: 8)), Settings);

        var input = Assert.Single(signature.Inputs);
        Assert.Equal(("input", TensorElementType.Float32), (input.Name, input.ElementType));
        Assert.Equal([-1, 64], input.Shape);
        Assert.Equal("batch", input.DimensionNames[0]);
        Assert.True(input.HasSymbolicBatch);
        var output = Assert.Single(signature.Outputs);
        Assert.Equal("probabilities", output.Name);
        Assert.Equal([-1, 10], output.Shape);
    }

    [Fact]
    public void Signature_reads_every_element_type()
    {
        var signature = ModelSignatureReader.Read("echo", EchoModel.Build(), Settings);
        Assert.Equal(
            [TensorElementType.Float32, TensorElementType.Float64, TensorElementType.Int32, TensorElementType.Int64, TensorElementType.UInt8, TensorElementType.Bool, TensorElementType.String],
            signature.Inputs.Select(i => i.ElementType));
    }

    [Theory]
    [InlineData(new byte[0], "empty")]
    [InlineData(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, "garbage")]
    public void Bytes_onnxruntime_cannot_load_are_an_invalid_model(byte[] bytes, string _)
    {
        var e = Assert.Throws<InvalidModelException>(() => ModelSignatureReader.Read("broken", bytes, Settings));
        Assert.Equal("broken", e.Model);
        Assert.StartsWith("model 'broken': the file is not a model ONNX Runtime can load: ", e.Message);
    }

    [Fact]
    public void Truncated_model_is_an_invalid_model()
    {
        var bytes = MlpModel.Build(new MlpModel.Options(Hidden: 8));
        Assert.Throws<InvalidModelException>(() => ModelSignatureReader.Read("cut", bytes[..(bytes.Length / 2)], Settings));
    }

    [Fact]
    public void Run_returns_requested_outputs_only_and_rejects_unknown_ones()
    {
        using var session = OnnxModelSession.Load("echo", EchoModel.Build(), Settings);
        var inputs = EchoInputs(rows: 2);

        var outputs = session.Run(1, inputs, ["i64_out", "text_out"]);
        Assert.Equal(["i64_out", "text_out"], outputs.Select(o => o.Name));
        Assert.Equal(inputs[3].Data, outputs[0].Data);
        Assert.Equal(inputs[6].Strings, outputs[1].Strings);

        var e = Assert.Throws<UnknownOutputException>(() => session.Run(1, inputs, ["nope"]));
        Assert.Contains("output 'nope'", e.Message);
    }

    [Fact]
    public void Run_checks_inputs_before_onnxruntime_sees_them()
    {
        using var session = OnnxModelSession.Load("echo", EchoModel.Build(), Settings);
        var inputs = EchoInputs(rows: 2);
        inputs[0] = NamedTensor.Create("f32", [2, 4], new float[8]);
        Assert.Throws<InputDimensionException>(() => session.Run(1, inputs));
    }

    public static NamedTensor[] EchoInputs(int rows)
    {
        var n = rows * EchoModel.Width;
        return
        [
            NamedTensor.Create("f32", [rows, 3], Enumerable.Range(0, n).Select(i => i * 0.5f - 1).ToArray()),
            NamedTensor.Create("f64", [rows, 3], Enumerable.Range(0, n).Select(i => Math.PI * i).ToArray()),
            NamedTensor.Create("i32", [rows, 3], Enumerable.Range(0, n).Select(i => int.MinValue + i).ToArray()),
            NamedTensor.Create("i64", [rows, 3], Enumerable.Range(0, n).Select(i => long.MaxValue - i).ToArray()),
            NamedTensor.Create("u8", [rows, 3], Enumerable.Range(0, n).Select(i => (byte)(250 + i % 6)).ToArray()),
            NamedTensor.Create("flag", [rows, 3], Enumerable.Range(0, n).Select(i => i % 3 == 0).ToArray()),
            NamedTensor.FromStrings("text", [rows, 3], Enumerable.Range(0, n).Select(i => $"wörd {i} ✓").ToArray()),
        ];
    }
}
