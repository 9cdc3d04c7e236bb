using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace Mesh.SampleModels;

/// <summary>
/// Writes an ONNX graph as protobuf. Small on purpose: enough to make the sample and test models in code,
/// so the repository never downloads a model.
/// </summary>
public sealed class OnnxGraphBuilder(string graphName)
{
    public const int Opset = 17;
    private readonly GraphProto _graph = new() { Name = graphName };

    /// <summary>
    /// Adds a graph input; the null entries of <paramref name="dims"/> are symbolic dimensions, named in order by
    /// <paramref name="symbolicNames"/> ("batch" when none is given).
    /// </summary>
    public OnnxGraphBuilder Input(string name, TensorProto.Types.DataType type, long?[] dims, params string[] symbolicNames)
    {
        _graph.Input.Add(ValueInfo(name, type, dims, symbolicNames));
        return this;
    }

    public OnnxGraphBuilder Output(string name, TensorProto.Types.DataType type, long?[] dims, params string[] symbolicNames)
    {
        _graph.Output.Add(ValueInfo(name, type, dims, symbolicNames));
        return this;
    }

    public OnnxGraphBuilder FloatInitializer(string name, long[] dims, float[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        _graph.Initializer.Add(tensor);
        return this;
    }

    public OnnxGraphBuilder Node(string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = $"{opType}_{_graph.Node.Count}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return this;
    }

    public static AttributeProto IntAttribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public byte[] ToBytes(string producer)
    {
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = producer,
            ProducerVersion = "1",
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model.ToByteArray();
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, long?[] dims, string[] symbolicNames)
    {
        var shape = new TensorShapeProto();
        var symbolic = 0;
        foreach (var dim in dims)
        {
            shape.Dim.Add(dim is long value
                ? new TensorShapeProto.Types.Dimension { DimValue = value }
                : new TensorShapeProto.Types.Dimension { DimParam = symbolic < symbolicNames.Length ? symbolicNames[symbolic++] : "batch" });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
