using Mesh.Abstractions.Tensors;
using Mesh.Inference.Sessions;
using Mesh.Optimization;
using Mesh.SampleModels;

namespace Mesh.Tests.Optimization;

public class Int8QuantizerTests
{
    private static int[] TopClasses(OnnxModelSession session, float[] rows, int count)
    {
        var output = session.Run(1, [NamedTensor.Create(MlpModel.InputName, [count, 64], rows)])[0].AsSpan<float>().ToArray();
        var classes = output.Length / count;
        return Enumerable.Range(0, count).Select(r => Array.IndexOf(output, output.Skip(r * classes).Take(classes).Max(), r * classes) - r * classes).ToArray();
    }

    [Fact]
    public void An_int8_mlp_loads_in_onnx_runtime_is_at_least_3_5x_smaller_and_keeps_the_top_class()
    {
        var fp32 = MlpModel.Build();
        var result = Int8Quantizer.Quantize(fp32);

        Assert.Equal(3, result.QuantizedNodes);
        Assert.Empty(result.Skipped);
        Assert.True(fp32.Length / (double)result.Model.Length >= 3.5, $"{fp32.Length} -> {result.Model.Length} bytes");
        using var original = OnnxModelSession.Load("mlp", fp32, new OnnxSessionSettings());
        using var quantized = OnnxModelSession.Load("mlp", result.Model, new OnnxSessionSettings());
        Assert.Equal(original.Signature.Inputs.Select(i => i.Name), quantized.Signature.Inputs.Select(i => i.Name));
        var rows = MlpModel.SampleInput(64);
        Assert.Equal(TopClasses(original, rows, 64), TopClasses(quantized, rows, 64));
    }

    [Fact]
    public void Per_tensor_scales_and_excluded_nodes_are_honoured()
    {
        var fp32 = MlpModel.Build();
        var excluded = Int8Quantizer.Quantize(fp32, new Int8Options(Exclude: ["Gemm_0"]));
        Assert.Equal(2, excluded.QuantizedNodes);
        Assert.Contains("Gemm 'Gemm_0': excluded", excluded.Skipped);
        var perTensor = Int8Quantizer.Quantize(fp32, new Int8Options(PerChannel: false));
        Assert.True(perTensor.Model.Length < excluded.Model.Length);
        using var session = OnnxModelSession.Load("mlp", perTensor.Model, new OnnxSessionSettings());
        Assert.Equal(10, session.Run(1, [NamedTensor.Create(MlpModel.InputName, [1, 64], MlpModel.SampleInput(1))])[0].ElementCount);
    }

    [Fact]
    public void Graphs_it_cannot_quantize_get_a_clear_message()
    {
        var noMatMul = Assert.Throws<UnsupportedGraphException>(() => Int8Quantizer.Quantize(AddModel.Build()));
        Assert.Equal("cannot quantize this model: it has no MatMul or Gemm node, so there are no weights to quantize", noMatMul.Message);

        var twice = Assert.Throws<UnsupportedGraphException>(() => Int8Quantizer.Quantize(Int8Quantizer.Quantize(MlpModel.Build()).Model));
        Assert.StartsWith("cannot quantize this model: it is already quantized (node 'Gemm_0_int8/quantize' is DynamicQuantizeLinear)", twice.Message);

        var garbage = Assert.Throws<UnsupportedGraphException>(() => Int8Quantizer.Quantize([1, 2, 3, 4, 5]));
        Assert.StartsWith("cannot quantize this model: the file is not an ONNX model", garbage.Message);

        var constant = new OnnxGraphBuilder("constant-weights")
            .Input("x", Onnx.TensorProto.Types.DataType.Float, [null, 4])
            .Output("y", Onnx.TensorProto.Types.DataType.Float, [null, 2]);
        var weights = new Onnx.TensorProto { DataType = (int)Onnx.TensorProto.Types.DataType.Float };
        weights.Dims.AddRange([4, 2]);
        weights.FloatData.AddRange(new float[8]);
        constant.Node("Constant", [], ["w"], new Onnx.AttributeProto { Name = "value", Type = Onnx.AttributeProto.Types.AttributeType.Tensor, T = weights })
                .Node("MatMul", ["x", "w"], ["y"]);
        var fromConstant = Assert.Throws<UnsupportedGraphException>(() => Int8Quantizer.Quantize(constant.ToBytes("test")));
        Assert.Contains("its weights 'w' come from a Constant node (fold them into initializers first)", fromConstant.Message);
    }
}
