using Onnx;

namespace Mesh.SampleModels;

/// <summary>
/// sum = a + b, each float32 [batch, width] with width symbolic. The signature cannot say that a and b must share
/// their width, so a request where they differ passes the mesh's checks and fails inside ONNX Runtime: the test
/// model for a run that fails at run time.
/// </summary>
public static class AddModel
{
    public static byte[] Build() => new OnnxGraphBuilder("add")
        .Input("a", TensorProto.Types.DataType.Float, [null, null], "batch", "width")
        .Input("b", TensorProto.Types.DataType.Float, [null, null], "batch", "width")
        .Output("sum", TensorProto.Types.DataType.Float, [null, null], "batch", "width")
        .Node("Add", ["a", "b"], ["sum"])
        .ToBytes("mesh-samples-add");
}
