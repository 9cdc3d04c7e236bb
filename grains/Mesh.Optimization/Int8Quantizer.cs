using System.Runtime.InteropServices;
using Google.Protobuf;
using Mesh.Abstractions.Errors;
using Mesh.Inference.Sessions;
using Onnx;

namespace Mesh.Optimization;

/// <summary>
/// Dynamic: weights and activations in int8 (MatMulInteger), smaller and faster. Weight-only: int8 weights that
/// DequantizeLinear turns back into fp32 when the session loads, smaller on disk and over the air, fp32 speed.
/// </summary>
public enum Int8Mode { Dynamic, WeightOnly }

/// <summary>How to quantize: per output channel scales (default; per-tensor scales lost too much on MiniLM, cosine 0.945) and nodes to leave in fp32.</summary>
public sealed record Int8Options(bool PerChannel = true, IReadOnlyCollection<string>? Exclude = null, Int8Mode Mode = Int8Mode.Dynamic)
{
    /// <summary>The optimization's name in lineage and in the file's metadata, e.g. int8-dynamic-per-channel.</summary>
    public string Name => $"int8-{(Mode == Int8Mode.Dynamic ? "dynamic" : "weight-only")}-{(PerChannel ? "per-channel" : "per-tensor")}";
}

/// <summary>The rewritten model and what was done to it; <paramref name="QuantizedNodeNames"/> are the original graph's node names.</summary>
public sealed record Int8Result(byte[] Model, int QuantizedNodes, long WeightsQuantized, string[] Skipped, string[] QuantizedNodeNames);

/// <summary>A model the quantizer will not rewrite, and why; nothing was written.</summary>
[GenerateSerializer]
public sealed class UnsupportedGraphException(string reason)
    : MeshInvalidArgumentException($"cannot quantize this model: {reason}");

/// <summary>
/// Int8 quantization over the ONNX protobuf (ONNX Runtime's C# API has none). Embedding tables read by
/// Gather become int8 rows with a scale per row. Weights are quantized symmetrically (zero point 0) per output
/// channel or per tensor.
/// Dynamic: every MatMul, and every Gemm (alpha = beta = 1, A not transposed), whose weights are a 2-D float
/// initializer becomes DynamicQuantizeLinear(A) -> MatMulInteger(A_u8, W_s8) -> Cast -> Mul(scale_A * scale_W)
/// [-> Add bias], the pattern ONNX Runtime fuses. Activations are quantized per call, so a row's numbers can differ
/// slightly with what it is batched with (docs/measurements.md).
/// Weight-only: the node keeps its fp32 arithmetic and reads DequantizeLinear(W_s8, scale); the file says so in its
/// metadata (<see cref="OptimizationMetadataKey"/>) so that Mesh sessions fold the weights back at load (see
/// OnnxModelSession), without which ONNX Runtime runs DequantizeLinear on every call, 5-10x slower.
/// </summary>
public static class Int8Quantizer
{
    /// <summary>The model metadata entry naming the optimization a file went through.</summary>
    public const string OptimizationMetadataKey = OnnxModelSession.OptimizationMetadataKey;

    private const string Suffix = "_int8";
    private static readonly HashSet<string> QuantizedOps =
        ["MatMulInteger", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearMatMul", "ConvInteger", "QLinearConv"];

    public static Int8Result Quantize(byte[] onnx, Int8Options? options = null)
    {
        options ??= new Int8Options();
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(onnx);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new UnsupportedGraphException($"the file is not an ONNX model ({e.Message})");
        }
        var graph = model.Graph ?? throw new UnsupportedGraphException("the file has no graph");
        if (graph.Node.FirstOrDefault(n => QuantizedOps.Contains(n.OpType)) is { } done)
            throw new UnsupportedGraphException($"it is already quantized (node '{done.Name}' is {done.OpType})");
        var opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        if (opset < 11)
            throw new UnsupportedGraphException($"its opset is {opset}; DynamicQuantizeLinear needs 11 or later");
        // DequantizeLinear's axis (one scale per channel) came in opset 13.
        if (options is { Mode: Int8Mode.WeightOnly, PerChannel: true } && opset < 13)
            throw new UnsupportedGraphException($"its opset is {opset}; per-channel DequantizeLinear needs 13 or later (use per-tensor scales or dynamic mode)");

        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var constants = graph.Node.Where(n => n.OpType == "Constant").SelectMany(n => n.Output).ToHashSet(StringComparer.Ordinal);
        var exclude = options.Exclude?.ToHashSet(StringComparer.Ordinal) ?? [];
        var skipped = new List<string>();
        var rewritten = new List<NodeProto>(graph.Node.Count);
        var quantizedNames = new List<string>();
        long weights = 0;

        foreach (var node in graph.Node)
        {
            // An embedding table read by Gather: int8 rows with one scale per row (a token's vector keeps its shape).
            if (node.OpType == "Gather" && !exclude.Contains(node.Name) && (Attribute(node, "axis") ?? 0) == 0
                && initializers.TryGetValue(node.Input[0], out var table) && table.DataType == (int)TensorProto.Types.DataType.Float
                && table.Dims.Count == 2 && table.Dims[0] * table.Dims[1] >= MinTableElements)
            {
                rewritten.AddRange(RewriteGather(node, table, graph));
                quantizedNames.Add(node.Name);
                weights += table.Dims[0] * table.Dims[1];
                continue;
            }
            if (node.OpType is not ("MatMul" or "Gemm") || node.Input.Count < 2)
            {
                rewritten.Add(node);
                continue;
            }
            var weightName = node.Input[1];
            string? why = exclude.Contains(node.Name) ? "excluded"
                : constants.Contains(weightName) ? $"its weights '{weightName}' come from a Constant node (fold them into initializers first)"
                : !initializers.TryGetValue(weightName, out var w) ? "its second input is computed, not weights"
                : w.DataType != (int)TensorProto.Types.DataType.Float || w.Dims.Count != 2 ? $"its weights '{weightName}' are not a 2-D float tensor"
                : node.OpType == "Gemm" && options.Mode == Int8Mode.Dynamic && !PlainGemm(node) ? "a Gemm with alpha, beta or transA other than the defaults"
                : null;
            if (why is not null)
            {
                skipped.Add($"{node.OpType} '{node.Name}': {why}");
                rewritten.Add(node);
                continue;
            }
            var tensor = initializers[weightName];
            var transB = node.OpType == "Gemm" && Attribute(node, "transB") == 1;
            rewritten.AddRange(options.Mode == Int8Mode.Dynamic
                ? Rewrite(node, tensor, transB, options.PerChannel, graph)
                : RewriteWeightOnly(node, tensor, transB, options.PerChannel, graph));
            quantizedNames.Add(node.Name);
            weights += tensor.Dims[0] * tensor.Dims[1];
        }

        if (quantizedNames.Count == 0)
        {
            throw new UnsupportedGraphException(skipped.Count == 0
                ? "it has no MatMul or Gemm node, so there are no weights to quantize"
                : "no MatMul or Gemm could be quantized: " + string.Join("; ", skipped));
        }

        graph.Node.Clear();
        graph.Node.AddRange(rewritten);
        // Float weights no node reads any more are dropped: that is where the size goes.
        var used = graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
        var unused = graph.Initializer.Where(t => !used.Contains(t.Name)).ToList();
        foreach (var tensor in unused) graph.Initializer.Remove(tensor);
        // Older models also list their initializers as graph inputs; a dropped one must not stay a required input.
        var dropped = unused.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var input in graph.Input.Where(i => dropped.Contains(i.Name)).ToList()) graph.Input.Remove(input);
        foreach (var old in model.MetadataProps.Where(p => p.Key == OptimizationMetadataKey).ToList()) model.MetadataProps.Remove(old);
        model.MetadataProps.Add(new StringStringEntryProto { Key = OptimizationMetadataKey, Value = options.Name });
        return new Int8Result(model.ToByteArray(), quantizedNames.Count, weights, skipped.ToArray(), quantizedNames.ToArray());
    }

    // Small tables (position, token type) cost little in fp32; quantizing them gains nothing worth their error.
    private const long MinTableElements = 4096;

    private static IEnumerable<NodeProto> RewriteGather(NodeProto node, TensorProto table, GraphProto graph)
    {
        var (rows, width) = ((int)table.Dims[0], (int)table.Dims[1]);
        var values = FloatsOf(table);
        var scales = new float[rows];
        var q = new sbyte[rows * width];
        for (var r = 0; r < rows; r++)
        {
            var max = 0f;
            for (var c = 0; c < width; c++) max = Math.Max(max, Math.Abs(values[r * width + c]));
            scales[r] = max == 0 ? 1 : max / 127f;
            for (var c = 0; c < width; c++) q[r * width + c] = (sbyte)Math.Clamp(MathF.Round(values[r * width + c] / scales[r]), -127, 127);
        }
        var prefix = (string.IsNullOrEmpty(node.Name) ? node.Output[0] : node.Name) + Suffix;
        var tableQ = Initializer(graph, prefix + "/table", TensorProto.Types.DataType.Int8, [rows, width], MemoryMarshal.AsBytes(q.AsSpan()).ToArray());
        var rowScales = Initializer(graph, prefix + "/row_scale", TensorProto.Types.DataType.Float, [rows, 1], MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        yield return Node("Gather", prefix + "/gather", [tableQ, node.Input[1]], [prefix + "/rows"]);
        yield return CastToFloat(prefix + "/cast", prefix + "/rows", prefix + "/rows_float");
        yield return Node("Gather", prefix + "/gather_scale", [rowScales, node.Input[1]], [prefix + "/scales"]);
        yield return Node("Mul", prefix + "/rescale", [prefix + "/rows_float", prefix + "/scales"], [node.Output[0]]);
    }

    private static bool PlainGemm(NodeProto node) =>
        AttributeFloat(node, "alpha") is null or 1f && AttributeFloat(node, "beta") is null or 1f && Attribute(node, "transA") is null or 0;

    private static IEnumerable<NodeProto> Rewrite(NodeProto node, TensorProto weights, bool transposed, bool perChannel, GraphProto graph)
    {
        var (rows, cols) = ((int)weights.Dims[0], (int)weights.Dims[1]);
        var values = FloatsOf(weights);
        // MatMul wants W as [K, N]; a Gemm with transB holds it as [N, K].
        var (k, n) = transposed ? (cols, rows) : (rows, cols);
        var w = new float[k * n];
        for (var r = 0; r < k; r++)
        for (var c = 0; c < n; c++)
            w[r * n + c] = transposed ? values[c * cols + r] : values[r * cols + c];

        var scales = new float[perChannel ? n : 1];
        for (var c = 0; c < n; c++)
        for (var r = 0; r < k; r++)
        {
            var slot = perChannel ? c : 0;
            scales[slot] = Math.Max(scales[slot], Math.Abs(w[r * n + c]));
        }
        for (var i = 0; i < scales.Length; i++) scales[i] = scales[i] == 0 ? 1 : scales[i] / 127f;
        var q = new sbyte[k * n];
        for (var r = 0; r < k; r++)
        for (var c = 0; c < n; c++)
            q[r * n + c] = (sbyte)Math.Clamp(MathF.Round(w[r * n + c] / scales[perChannel ? c : 0]), -127, 127);

        var prefix = (string.IsNullOrEmpty(node.Name) ? node.Output[0] : node.Name) + Suffix;
        var wq = Initializer(graph, prefix + "/w", TensorProto.Types.DataType.Int8, [k, n], MemoryMarshal.AsBytes(q.AsSpan()).ToArray());
        var wScale = Initializer(graph, prefix + "/w_scale", TensorProto.Types.DataType.Float, perChannel ? [n] : [], MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        var wZero = Initializer(graph, prefix + "/w_zero", TensorProto.Types.DataType.Int8, perChannel ? [n] : [], new byte[perChannel ? n : 1]);

        var (aq, aScale, aZero) = (prefix + "/a", prefix + "/a_scale", prefix + "/a_zero");
        yield return Node("DynamicQuantizeLinear", prefix + "/quantize", [node.Input[0]], [aq, aScale, aZero]);
        yield return Node("MatMulInteger", prefix + "/matmul", [aq, wq, aZero, wZero], [prefix + "/int32"]);
        yield return CastToFloat(prefix + "/cast", prefix + "/int32", prefix + "/float");
        yield return Node("Mul", prefix + "/scale", [aScale, wScale], [prefix + "/scale_out"]);
        var hasBias = node.OpType == "Gemm" && node.Input.Count > 2 && !string.IsNullOrEmpty(node.Input[2]);
        var scaled = hasBias ? prefix + "/scaled" : node.Output[0];
        yield return Node("Mul", prefix + "/rescale", [prefix + "/float", prefix + "/scale_out"], [scaled]);
        if (hasBias) yield return Node("Add", prefix + "/bias", [scaled, node.Input[2]], [node.Output[0]]);
    }

    // The node is kept as it is (any Gemm attributes included) and reads its weights from DequantizeLinear; the
    // scales run along the output channel, which is axis 1 of a MatMul's [K, N] and axis 0 of a transposed Gemm's [N, K].
    private static IEnumerable<NodeProto> RewriteWeightOnly(NodeProto node, TensorProto weights, bool transposed, bool perChannel, GraphProto graph)
    {
        var (rows, cols) = ((int)weights.Dims[0], (int)weights.Dims[1]);
        var values = FloatsOf(weights);
        var axis = transposed ? 0 : 1;
        var channels = perChannel ? (transposed ? rows : cols) : 1;
        int Channel(int r, int c) => perChannel ? (transposed ? r : c) : 0;
        var scales = new float[channels];
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < cols; c++)
            scales[Channel(r, c)] = Math.Max(scales[Channel(r, c)], Math.Abs(values[r * cols + c]));
        for (var i = 0; i < scales.Length; i++) scales[i] = scales[i] == 0 ? 1 : scales[i] / 127f;
        var q = new sbyte[rows * cols];
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < cols; c++)
            q[r * cols + c] = (sbyte)Math.Clamp(MathF.Round(values[r * cols + c] / scales[Channel(r, c)]), -127, 127);

        var prefix = (string.IsNullOrEmpty(node.Name) ? node.Output[0] : node.Name) + Suffix;
        var wq = Initializer(graph, prefix + "/w", TensorProto.Types.DataType.Int8, [rows, cols], MemoryMarshal.AsBytes(q.AsSpan()).ToArray());
        var wScale = Initializer(graph, prefix + "/w_scale", TensorProto.Types.DataType.Float, perChannel ? [channels] : [], MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        var wZero = Initializer(graph, prefix + "/w_zero", TensorProto.Types.DataType.Int8, perChannel ? [channels] : [], new byte[channels]);
        var dequantize = Node("DequantizeLinear", prefix + "/dequantize", [wq, wScale, wZero], [prefix + "/w_float"]);
        if (perChannel) dequantize.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = axis });
        yield return dequantize;
        var kept = node.Clone();
        kept.Input[1] = prefix + "/w_float";
        yield return kept;
    }

    private static string Initializer(GraphProto graph, string name, TensorProto.Types.DataType type, long[] dims, byte[] raw)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        tensor.Dims.AddRange(dims);
        graph.Initializer.Add(tensor);
        return name;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string[] outputs)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }

    private static NodeProto CastToFloat(string name, string input, string output)
    {
        var cast = Node("Cast", name, [input], [output]);
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float });
        return cast;
    }

    private static float[] FloatsOf(TensorProto tensor) =>
        tensor.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray() : tensor.FloatData.ToArray();

    private static long? Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.I;

    private static float? AttributeFloat(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.F;
}
