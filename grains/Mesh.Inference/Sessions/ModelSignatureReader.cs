using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Microsoft.ML.OnnxRuntime;
using OrtElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using TensorElementType = Mesh.Abstractions.Tensors.TensorElementType;

namespace Mesh.Inference.Sessions;

/// <summary>Reads a model's signature the way ONNX Runtime sees it.</summary>
public static class ModelSignatureReader
{
    /// <summary>
    /// Loads <paramref name="onnx"/> in ONNX Runtime and returns its signature. A file ONNX Runtime cannot
    /// load throws <see cref="InvalidModelException"/> with ONNX Runtime's reason.
    /// </summary>
    public static ModelSignature Read(string model, byte[] onnx, OnnxSessionSettings settings)
    {
        using var session = OnnxModelSession.Load(model, onnx, settings);
        return session.Signature;
    }

    internal static ModelSignature FromSession(InferenceSession session) =>
        new(session.InputMetadata.Select(ToSpec).ToArray(), session.OutputMetadata.Select(ToSpec).ToArray());

    private static TensorSpec ToSpec(KeyValuePair<string, NodeMetadata> entry)
    {
        var (name, meta) = entry;
        if (meta.OnnxValueType != OnnxValueType.ONNX_TYPE_TENSOR)
        {
            var kind = meta.OnnxValueType switch
            {
                OnnxValueType.ONNX_TYPE_SEQUENCE => ValueKind.Sequence,
                OnnxValueType.ONNX_TYPE_MAP => ValueKind.Map,
                _ => ValueKind.Optional,
            };
            return new TensorSpec(name, TensorElementType.Undefined, [], [], kind);
        }

        var shape = meta.Dimensions.Select(d => (long)d).ToArray();
        var names = new string?[shape.Length];
        for (var i = 0; i < shape.Length; i++)
        {
            var symbolic = i < meta.SymbolicDimensions.Length ? meta.SymbolicDimensions[i] : null;
            names[i] = string.IsNullOrEmpty(symbolic) ? null : symbolic;
            // ORT reports an unnamed unknown dimension as -1 too; both mean "any size".
            if (shape[i] < 0) shape[i] = -1;
        }
        return new TensorSpec(name, FromOrt(meta.ElementDataType), shape, names);
    }

    internal static TensorElementType FromOrt(OrtElementType type) => (TensorElementType)(int)type;
    internal static OrtElementType ToOrt(TensorElementType type) => (OrtElementType)(int)type;
}
