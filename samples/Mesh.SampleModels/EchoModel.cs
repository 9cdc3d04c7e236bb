using Onnx;

namespace Mesh.SampleModels;

/// <summary>
/// One Identity per element type the mesh must carry (float32, float64, int32, int64, uint8, bool, string),
/// each [batch, 3]: what goes in comes back, so tests see every type cross the mesh unchanged.
/// </summary>
public static class EchoModel
{
    public static readonly (string Name, TensorProto.Types.DataType Type)[] Tensors =
    [
        ("f32", TensorProto.Types.DataType.Float),
        ("f64", TensorProto.Types.DataType.Double),
        ("i32", TensorProto.Types.DataType.Int32),
        ("i64", TensorProto.Types.DataType.Int64),
        ("u8", TensorProto.Types.DataType.Uint8),
        ("flag", TensorProto.Types.DataType.Bool),
        ("text", TensorProto.Types.DataType.String),
    ];

    public const int Width = 3;

    public static byte[] Build()
    {
        var graph = new OnnxGraphBuilder("echo");
        foreach (var (name, type) in Tensors)
        {
            graph.Input(name, type, [null, Width])
                 .Output($"{name}_out", type, [null, Width])
                 .Node("Identity", [name], [$"{name}_out"]);
        }
        return graph.ToBytes("mesh-samples-echo");
    }
}
