using System.Buffers.Binary;
using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;

namespace Mesh.Abstractions.Tensors;

/// <summary>
/// Tensors and predicts as the Open Inference Protocol (KServe V2) writes them in JSON:
/// <c>{"name":"x","shape":[2,3],"datatype":"FP32","data":[...]}</c>, data flat or nested, row-major.
/// </summary>
public static class InferenceJson
{
    public static string DataTypeName(TensorElementType type) => type switch
    {
        TensorElementType.Bool => "BOOL",
        TensorElementType.UInt8 => "UINT8",
        TensorElementType.UInt16 => "UINT16",
        TensorElementType.UInt32 => "UINT32",
        TensorElementType.UInt64 => "UINT64",
        TensorElementType.Int8 => "INT8",
        TensorElementType.Int16 => "INT16",
        TensorElementType.Int32 => "INT32",
        TensorElementType.Int64 => "INT64",
        TensorElementType.Float16 => "FP16",
        TensorElementType.Float32 => "FP32",
        TensorElementType.Float64 => "FP64",
        TensorElementType.String => "BYTES",
        TensorElementType.BFloat16 => "BF16",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no protocol datatype"),
    };

    public static bool TryParseDataType(string name, out TensorElementType type)
    {
        foreach (var candidate in Enum.GetValues<TensorElementType>())
        {
            if (candidate != TensorElementType.Undefined && DataTypeName(candidate) == name)
            {
                type = candidate;
                return true;
            }
        }
        type = TensorElementType.Undefined;
        return false;
    }

    /// <summary>Reads an inference request body: its inputs and, if given, the names of the outputs wanted.</summary>
    public static PredictRequest ReadRequest(string model, int? version, string json)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new InvalidRequestException("$", $"not valid JSON: {e.Message}"); }
        using (document) return ReadRequest(model, version, document.RootElement);
    }

    public static PredictRequest ReadRequest(string model, int? version, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new InvalidRequestException("$", "must be a JSON object");
        if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
            throw new InvalidRequestException("inputs", "must be an array of tensors");
        var tensors = new NamedTensor[inputs.GetArrayLength()];
        var i = 0;
        foreach (var input in inputs.EnumerateArray())
        {
            tensors[i] = ReadTensor(input, $"inputs[{i}]");
            i++;
        }

        string[]? outputs = null;
        if (root.TryGetProperty("outputs", out var wanted) && wanted.ValueKind == JsonValueKind.Array)
        {
            outputs = wanted.EnumerateArray()
                .Select((o, n) => o.ValueKind == JsonValueKind.Object && o.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
                    ? name.GetString()!
                    : throw new InvalidRequestException($"outputs[{n}].name", "must be a string"))
                .ToArray();
        }
        return new PredictRequest(model, tensors, version, outputs);
    }

    public static NamedTensor ReadTensor(JsonElement tensor, string path)
    {
        if (tensor.ValueKind != JsonValueKind.Object)
            throw new InvalidRequestException(path, "must be a JSON object with name, shape, datatype and data");
        var name = tensor.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
            ? n.GetString()!
            : throw new InvalidRequestException($"{path}.name", "must be a string");
        if (!tensor.TryGetProperty("datatype", out var dt) || dt.ValueKind != JsonValueKind.String || !TryParseDataType(dt.GetString()!, out var type))
            throw new InvalidRequestException($"{path}.datatype", "must be one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP32, FP64, BYTES");
        if (!tensor.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array)
            throw new InvalidRequestException($"{path}.shape", "must be an array of non-negative integers");
        var shape = s.EnumerateArray()
            .Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out var v) && v >= 0 ? v : throw new InvalidRequestException($"{path}.shape", "must be an array of non-negative integers"))
            .ToArray();
        if (!tensor.TryGetProperty("data", out var data))
            throw new InvalidRequestException($"{path}.data", "is missing");

        var writer = new TensorValueWriter(name, type, NamedTensor.ShapeElementCount(shape));
        WriteValues(writer, data);
        return writer.ToTensor(shape);
    }

    private static void WriteValues(TensorValueWriter writer, JsonElement data)
    {
        switch (data.ValueKind)
        {
            case JsonValueKind.Array:
                foreach (var item in data.EnumerateArray()) WriteValues(writer, item);
                break;
            case JsonValueKind.True: writer.WriteBool(true); break;
            case JsonValueKind.False: writer.WriteBool(false); break;
            case JsonValueKind.String: writer.WriteString(data.GetString()!); break;
            case JsonValueKind.Number:
                if (data.TryGetInt64(out var l)) writer.WriteInt64(l);
                else if (data.TryGetUInt64(out var u)) writer.WriteUInt64(u);
                else writer.WriteDouble(data.GetDouble());
                break;
            default:
                writer.Reject($"{data.ValueKind.ToString().ToLowerInvariant()} is not a tensor value");
                break;
        }
    }

    /// <summary>Writes an inference response: model_name, model_version, id (when given), outputs.</summary>
    public static void WriteResponse(Utf8JsonWriter json, PredictResponse response, string? id = null)
    {
        json.WriteStartObject();
        json.WriteString("model_name", response.Model);
        json.WriteString("model_version", response.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (id is not null) json.WriteString("id", id);
        json.WriteStartArray("outputs");
        foreach (var output in response.Outputs) WriteTensor(json, output);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static void WriteTensor(Utf8JsonWriter json, NamedTensor tensor)
    {
        json.WriteStartObject();
        json.WriteString("name", tensor.Name);
        json.WriteString("datatype", DataTypeName(tensor.ElementType));
        json.WriteStartArray("shape");
        foreach (var d in tensor.Shape) json.WriteNumberValue(d);
        json.WriteEndArray();
        json.WriteStartArray("data");
        WriteData(json, tensor);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteData(Utf8JsonWriter json, NamedTensor tensor)
    {
        var data = tensor.Data.AsSpan();
        var size = tensor.ElementType == TensorElementType.String ? 0 : tensor.ElementType.ByteSize();
        for (var i = 0L; i < tensor.ElementCount; i++)
        {
            var e = size == 0 ? default : data.Slice((int)(i * size), size);
            switch (tensor.ElementType)
            {
                case TensorElementType.String: json.WriteStringValue(tensor.Strings![i]); break;
                case TensorElementType.Bool: json.WriteBooleanValue(e[0] != 0); break;
                case TensorElementType.Float32: WriteFloat(json, BinaryPrimitives.ReadSingleLittleEndian(e)); break;
                case TensorElementType.Float64: WriteFloat(json, BinaryPrimitives.ReadDoubleLittleEndian(e)); break;
                case TensorElementType.Float16: WriteFloat(json, (double)BinaryPrimitives.ReadHalfLittleEndian(e)); break;
                case TensorElementType.Int8: json.WriteNumberValue((sbyte)e[0]); break;
                case TensorElementType.UInt8: json.WriteNumberValue(e[0]); break;
                case TensorElementType.Int16: json.WriteNumberValue(BinaryPrimitives.ReadInt16LittleEndian(e)); break;
                case TensorElementType.UInt16: json.WriteNumberValue(BinaryPrimitives.ReadUInt16LittleEndian(e)); break;
                case TensorElementType.Int32: json.WriteNumberValue(BinaryPrimitives.ReadInt32LittleEndian(e)); break;
                case TensorElementType.UInt32: json.WriteNumberValue(BinaryPrimitives.ReadUInt32LittleEndian(e)); break;
                case TensorElementType.Int64: json.WriteNumberValue(BinaryPrimitives.ReadInt64LittleEndian(e)); break;
                case TensorElementType.UInt64: json.WriteNumberValue(BinaryPrimitives.ReadUInt64LittleEndian(e)); break;
                default: throw new NotSupportedException($"output '{tensor.Name}': {tensor.ElementType.DisplayName()} has no JSON form");
            }
        }
    }

    // JSON has no NaN or infinity; write them as strings rather than fail the whole answer.
    private static void WriteFloat(Utf8JsonWriter json, float value)
    {
        if (float.IsFinite(value)) json.WriteNumberValue(value);
        else json.WriteStringValue(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static void WriteFloat(Utf8JsonWriter json, double value)
    {
        if (double.IsFinite(value)) json.WriteNumberValue(value);
        else json.WriteStringValue(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
