namespace Mesh.Abstractions.Tensors;

/// <summary>
/// Element type of a tensor. The numbers are ONNX's own (TensorProto.DataType), so a value read from
/// a model file or from ONNX Runtime maps across without a table.
/// </summary>
public enum TensorElementType
{
    Undefined = 0,
    Float32 = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Float64 = 11,
    UInt32 = 12,
    UInt64 = 13,
    BFloat16 = 16,
}

public static class TensorElementTypeExtensions
{
    /// <summary>Bytes one element takes in a contiguous buffer; 0 for strings, which travel as a string array.</summary>
    public static int ByteSize(this TensorElementType type) => type switch
    {
        TensorElementType.Float32 or TensorElementType.Int32 or TensorElementType.UInt32 => 4,
        TensorElementType.Float64 or TensorElementType.Int64 or TensorElementType.UInt64 => 8,
        TensorElementType.Int16 or TensorElementType.UInt16 or TensorElementType.Float16 or TensorElementType.BFloat16 => 2,
        TensorElementType.Int8 or TensorElementType.UInt8 or TensorElementType.Bool => 1,
        TensorElementType.String => 0,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no byte size for this element type"),
    };

    /// <summary>Lower-case name used in messages and on the command line (float32, int64, bool, string, ...).</summary>
    public static string DisplayName(this TensorElementType type) => type.ToString().ToLowerInvariant();
}
