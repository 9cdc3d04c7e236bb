namespace Mesh.SampleModels;

/// <summary>
/// A multi-layer perceptron: input [batch, Inputs] -> Gemm/Relu -> Gemm/Relu -> Gemm -> Softmax -> [batch, Classes].
/// Weights come from a seeded generator, so the same options always give the same bytes.
/// </summary>
public static class MlpModel
{
    public const string InputName = "input";
    public const string OutputName = "probabilities";

    public sealed record Options(int Inputs = 64, int Hidden = 256, int Classes = 10, int Seed = 42);

    public static byte[] Build(Options? options = null)
    {
        var o = options ?? new Options();
        var random = new DeterministicRandom(o.Seed);
        var graph = new OnnxGraphBuilder("mlp")
            .Input(InputName, Onnx.TensorProto.Types.DataType.Float, [null, o.Inputs])
            .Output(OutputName, Onnx.TensorProto.Types.DataType.Float, [null, o.Classes]);

        var layers = new[] { (o.Inputs, o.Hidden), (o.Hidden, o.Hidden), (o.Hidden, o.Classes) };
        var current = InputName;
        for (var i = 0; i < layers.Length; i++)
        {
            var (fanIn, fanOut) = layers[i];
            // Scaled like He initialisation so activations neither vanish nor blow up through the layers.
            var scale = MathF.Sqrt(2f / fanIn);
            graph.FloatInitializer($"w{i}", [fanIn, fanOut], random.Floats(fanIn * fanOut, scale))
                 .FloatInitializer($"b{i}", [fanOut], random.Floats(fanOut, 0.1f));
            var gemm = $"gemm{i}";
            graph.Node("Gemm", [current, $"w{i}", $"b{i}"], [gemm]);
            current = gemm;
            if (i < layers.Length - 1)
            {
                graph.Node("Relu", [gemm], [$"relu{i}"]);
                current = $"relu{i}";
            }
        }
        graph.Node("Softmax", [current], [OutputName], OnnxGraphBuilder.IntAttribute("axis", -1));
        return graph.ToBytes("mesh-samples-mlp");
    }

    /// <summary>Deterministic input rows in [-1, 1) for tests and benchmarks.</summary>
    public static float[] SampleInput(int rows, int inputs = 64, int seed = 7) =>
        new DeterministicRandom(seed).Floats(rows * inputs, 1f);
}
