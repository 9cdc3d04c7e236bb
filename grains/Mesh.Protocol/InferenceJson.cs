using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Tensors;

namespace Mesh.Protocol;

/// <summary>
/// Predicts as the Open Inference Protocol (KServe V2) writes them in JSON, with Triton's binary tensor
/// extension: a tensor is <c>{"name","shape","datatype","data"}</c> with data flat or nested, row-major; or,
/// with <c>parameters.binary_data_size</c>, its bytes follow the JSON object in the body (little-endian, BOOL one
/// byte, BYTES a 4-byte length then the bytes), the JSON's length in <c>Inference-Header-Content-Length</c>.
/// </summary>
public static class InferenceJson
{
    public const string HeaderLengthHeader = "Inference-Header-Content-Length";

    // Served as application/json, so names and strings need no HTML escaping; kept readable.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

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

    private const string DataTypes = "BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16 (binary only), FP32, FP64, BYTES";

    // ---------------------------------------------------------------- requests, read by the server

    /// <summary>Triton's sequence extension's request parameters, which Mesh refuses rather than ignores.</summary>
    public static readonly string[] SequenceParameters = ["sequence_id", "sequence_start", "sequence_end"];

    /// <summary>
    /// Mesh serves stateless models: a request that asks for a sequence (stateful, correlated requests) would be
    /// answered as if alone, so it is refused, naming the parameter.
    /// </summary>
    public static InvalidRequestException SequenceRefused(string parameter) =>
        new($"parameters.{parameter}", "Mesh does not implement Triton's sequence extension (its models are stateless); send each request without sequence parameters");

    /// <summary>Reads a JSON-only inference request (no binary data).</summary>
    public static PredictRequest ReadRequest(string model, int? version, string json) =>
        ReadRequest(model, version, Encoding.UTF8.GetBytes(json), ReadOnlyMemory<byte>.Empty).Request;

    /// <summary>
    /// Reads an inference request: <paramref name="json"/> is the JSON object, <paramref name="binary"/> the bytes
    /// that followed it (empty without the binary extension).
    /// </summary>
    public static (PredictRequest Request, InferOptions Options) ReadRequest(string model, int? version, ReadOnlyMemory<byte> json, ReadOnlyMemory<byte> binary)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new InvalidRequestException("$", $"not valid JSON: {e.Message}"); }
        using (document) return ReadRequest(model, version, document.RootElement, binary);
    }

    private static (PredictRequest, InferOptions) ReadRequest(string model, int? version, JsonElement root, ReadOnlyMemory<byte> binary)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new InvalidRequestException("$", "must be a JSON object");

        string? id = null;
        if (root.TryGetProperty("id", out var idElement))
            id = idElement.ValueKind == JsonValueKind.String ? Text(idElement, "id") : throw new InvalidRequestException("id", "must be a string");

        TimeSpan? timeout = null;
        var allBinary = false;
        var priority = PredictPriority.Normal;
        string? routingKey = null;
        if (root.TryGetProperty("parameters", out var parameters))
        {
            if (parameters.ValueKind != JsonValueKind.Object) throw new InvalidRequestException("parameters", "must be an object");
            foreach (var name in SequenceParameters)
                if (parameters.TryGetProperty(name, out _)) throw SequenceRefused(name);
            if (parameters.TryGetProperty("timeout", out var t))
                timeout = t.ValueKind == JsonValueKind.Number && t.TryGetInt64(out var micros)
                    ? Timeout(micros)
                    : throw new InvalidRequestException("parameters.timeout", "must be a positive number of microseconds");
            if (parameters.TryGetProperty("binary_data_output", out var b))
                allBinary = ReadBool(b, "parameters.binary_data_output");
            if (parameters.TryGetProperty("priority", out var p))
                priority = p.ValueKind == JsonValueKind.Number && p.TryGetInt64(out var level) && level >= 0
                    ? (level == 1 ? PredictPriority.High : PredictPriority.Normal)
                    : throw new InvalidRequestException("parameters.priority", "must be a non-negative integer (1 is the highest)");
            // Mesh's own: while traffic is split across versions, the same key always reaches the same version.
            if (parameters.TryGetProperty("routing_key", out var r))
                routingKey = r.ValueKind == JsonValueKind.String && Text(r, "parameters.routing_key") is { Length: > 0 and <= 256 } key
                    ? key
                    : throw new InvalidRequestException("parameters.routing_key", "must be a string of 1 to 256 characters");
        }

        if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
            throw new InvalidRequestException("inputs", "must be an array of tensors");
        var tensors = new NamedTensor[inputs.GetArrayLength()];
        var offset = 0;
        var i = 0;
        foreach (var input in inputs.EnumerateArray())
        {
            tensors[i] = ReadTensor(input, $"inputs[{i}]", binary, ref offset);
            i++;
        }
        if (offset != binary.Length)
            throw new InvalidRequestException("inputs", $"the body has {binary.Length - offset} bytes of binary data that no input's binary_data_size claims");

        string[]? outputs = null;
        Dictionary<string, bool>? outputBinary = null;
        if (root.TryGetProperty("outputs", out var wanted))
        {
            if (wanted.ValueKind != JsonValueKind.Array) throw new InvalidRequestException("outputs", "must be an array");
            outputs = new string[wanted.GetArrayLength()];
            var n = 0;
            foreach (var output in wanted.EnumerateArray())
            {
                var path = $"outputs[{n}]";
                outputs[n] = output.ValueKind == JsonValueKind.Object && output.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
                    ? Text(name, $"{path}.name")
                    : throw new InvalidRequestException($"{path}.name", "must be a string");
                if (output.TryGetProperty("parameters", out var p) && p.ValueKind == JsonValueKind.Object && p.TryGetProperty("binary_data", out var bd))
                    (outputBinary ??= new())[outputs[n]] = ReadBool(bd, $"{path}.parameters.binary_data");
                n++;
            }
        }

        return (new PredictRequest(model, tensors, version, outputs, Priority: priority, RoutingKey: routingKey), new InferOptions(id, timeout, allBinary, outputBinary, priority));
    }

    /// <summary>The longest timeout a request may set: a day, far past any inference, and far from TimeSpan's limits.</summary>
    public const long MaxTimeoutMicroseconds = 86_400_000_000;

    /// <summary>A request's timeout from its microseconds, refused unless positive and at most a day.</summary>
    public static TimeSpan Timeout(long microseconds) =>
        microseconds is > 0 and <= MaxTimeoutMicroseconds
            ? TimeSpan.FromMicroseconds(microseconds)
            : throw new InvalidRequestException("parameters.timeout", $"must be a positive number of microseconds, at most {MaxTimeoutMicroseconds} (a day); was {microseconds}");

    // A JSON string as text; bytes that are not UTF-8 are refused with the field's name instead of failing later.
    internal static string Text(JsonElement element, string path) =>
        TryText(element) ?? throw new InvalidRequestException(path, "must be valid UTF-8 text");

    internal static string? TryText(JsonElement element)
    {
        try { return element.GetString()!; }
        catch (InvalidOperationException) { return null; }
    }

    private static string Abbreviated(string text) => text.Length <= 40 ? text : text[..37] + "...";

    private static bool ReadBool(JsonElement element, string path) => element.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw new InvalidRequestException(path, "must be true or false"),
    };

    /// <summary>Reads one tensor; its values come from <c>data</c>, or from <paramref name="binary"/> at <paramref name="offset"/>.</summary>
    public static NamedTensor ReadTensor(JsonElement tensor, string path, ReadOnlyMemory<byte> binary, ref int offset)
    {
        if (tensor.ValueKind != JsonValueKind.Object)
            throw new InvalidRequestException(path, "must be a JSON object with name, shape, datatype and data");
        var name = tensor.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
            ? Text(n, $"{path}.name")
            : throw new InvalidRequestException($"{path}.name", "must be a string");
        if (!tensor.TryGetProperty("datatype", out var dt) || dt.ValueKind != JsonValueKind.String || !TryParseDataType(Text(dt, $"{path}.datatype"), out var type))
            throw new InvalidRequestException($"{path}.datatype", $"must be one of {DataTypes}");
        var shape = ReadShape(tensor, $"{path}.shape");
        var count = CheckedCount(shape, $"{path}.shape");

        long? binarySize = null;
        if (tensor.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object
            && parameters.TryGetProperty("binary_data_size", out var size))
        {
            binarySize = size.ValueKind == JsonValueKind.Number && size.TryGetInt64(out var s) && s >= 0
                ? s
                : throw new InvalidRequestException($"{path}.parameters.binary_data_size", "must be a non-negative integer");
        }

        if (binarySize is long bytes)
        {
            if (tensor.TryGetProperty("data", out _))
                throw new InvalidRequestException($"{path}.data", "must be absent when binary_data_size is given");
            // Compared this way round so a claimed size near long.MaxValue cannot overflow the sum.
            if (bytes > binary.Length - offset)
                throw new InvalidRequestException($"{path}.parameters.binary_data_size", $"{bytes} bytes claimed, {binary.Length - offset} left in the body");
            var slice = binary.Slice(offset, (int)bytes);
            offset += (int)bytes;
            return DecodeBinary(name, type, shape, count, slice.Span);
        }

        if (type is TensorElementType.Float16 or TensorElementType.BFloat16)
            throw new InvalidTensorValueException(name, $"{DataTypeName(type)} can only be sent as binary data (parameters.binary_data_size), JSON has no 16-bit float");
        if (!tensor.TryGetProperty("data", out var data))
            throw new InvalidRequestException($"{path}.data", "is missing");

        // Count the values before allocating, so a huge shape with little data costs nothing.
        var given = CountLeaves(data);
        if (given != count)
            throw new InvalidTensorValueException(name, $"{given} values given, its shape {NamedTensor.ShapeText(shape)} holds {count}");
        var writer = new TensorValueWriter(name, type, count);
        WriteValues(writer, data);
        return writer.ToTensor(shape);
    }

    private static long[] ReadShape(JsonElement tensor, string path)
    {
        if (!tensor.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array)
            throw new InvalidRequestException(path, "must be an array of non-negative integers");
        return s.EnumerateArray()
            .Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out var v) && v >= 0 ? v : throw new InvalidRequestException(path, $"must be an array of non-negative integers (got {d.GetRawText()})"))
            .ToArray();
    }

    /// <summary>Element count of a shape; a shape too large to be a request is refused rather than overflowing.</summary>
    public static long CheckedCount(long[] shape, string path)
    {
        long count = 1;
        foreach (var d in shape)
        {
            if (d != 0 && count > int.MaxValue / d)
                throw new InvalidRequestException(path, $"{NamedTensor.ShapeText(shape)} has more elements than one request can carry ({int.MaxValue})");
            count *= d;
        }
        return count;
    }

    private static long CountLeaves(JsonElement data)
    {
        if (data.ValueKind != JsonValueKind.Array) return 1;
        long count = 0;
        foreach (var item in data.EnumerateArray()) count += CountLeaves(item);
        return count;
    }

    /// <summary>A tensor from its binary form (see <see cref="EncodeBinary"/>), checked against the shape.</summary>
    public static NamedTensor DecodeBinary(string name, TensorElementType type, long[] shape, ReadOnlySpan<byte> bytes) =>
        DecodeBinary(name, type, shape, CheckedCount(shape, $"input '{name}' shape"), bytes);

    private static NamedTensor DecodeBinary(string name, TensorElementType type, long[] shape, long count, ReadOnlySpan<byte> bytes)
    {
        if (type != TensorElementType.String)
        {
            var expected = count * type.ByteSize();
            if (bytes.Length != expected)
                throw new InvalidTensorValueException(name, $"binary_data_size is {bytes.Length} bytes, shape {NamedTensor.ShapeText(shape)} of {DataTypeName(type)} needs {expected}");
            return new NamedTensor(name, type, shape, bytes.ToArray());
        }

        // Every element takes at least its 4-byte length: a shape that promises more than the bytes could hold is
        // refused before its array is allocated.
        if (count > bytes.Length / 4)
            throw new InvalidTensorValueException(name, $"shape {NamedTensor.ShapeText(shape)} holds {count} BYTES elements, the {bytes.Length} bytes given hold at most {bytes.Length / 4}");
        var strings = new string[count];
        var at = 0;
        for (var i = 0; i < count; i++)
        {
            if (at + 4 > bytes.Length)
                throw new InvalidTensorValueException(name, $"binary BYTES data ends before element {i} of {count}");
            var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes[at..]);
            at += 4;
            if (length > bytes.Length - at)
                throw new InvalidTensorValueException(name, $"element {i} claims {length} bytes, {bytes.Length - at} are left");
            strings[i] = Encoding.UTF8.GetString(bytes.Slice(at, (int)length));
            at += (int)length;
        }
        if (at != bytes.Length)
            throw new InvalidTensorValueException(name, $"{bytes.Length - at} bytes of binary BYTES data are left after {count} elements");
        return NamedTensor.FromStrings(name, shape, strings);
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
            case JsonValueKind.String:
                if (TryText(data) is { } text) writer.WriteString(text);
                else writer.Reject("a string is not valid UTF-8");
                break;
            case JsonValueKind.Number:
                if (data.TryGetInt64(out var l)) writer.WriteInt64(l);
                else if (data.TryGetUInt64(out var u)) writer.WriteUInt64(u);
                else if (data.GetDouble() is var d && double.IsFinite(d)) writer.WriteDouble(d);
                // A literal too large for a double parses as infinity; the sender wrote a number, not "inf".
                else writer.Reject($"{Abbreviated(data.GetRawText())} is out of range for a JSON number (send \"inf\" for infinity)");
                break;
            default:
                writer.Reject($"{data.ValueKind.ToString().ToLowerInvariant()} is not a tensor value");
                break;
        }
    }

    // ---------------------------------------------------------------- requests, written by a client

    /// <summary>
    /// Writes an inference request. With <paramref name="binaryInputs"/> every input travels as binary data after
    /// the JSON (returned header length set); <paramref name="options"/> says which outputs to ask for as binary.
    /// </summary>
    public static (byte[] Body, int? HeaderLength) WriteRequest(PredictRequest request, InferOptions options, bool binaryInputs)
    {
        var json = new ArrayBufferWriter<byte>();
        var blobs = new List<byte[]>();
        using (var w = new Utf8JsonWriter(json, WriterOptions))
        {
            w.WriteStartObject();
            if (options.Id is not null) w.WriteString("id", options.Id);
            if (options.Timeout is not null || options.AllOutputsBinary)
            {
                w.WriteStartObject("parameters");
                if (options.Timeout is TimeSpan t) w.WriteNumber("timeout", (long)t.TotalMicroseconds);
                if (options.AllOutputsBinary) w.WriteBoolean("binary_data_output", true);
                w.WriteEndObject();
            }
            w.WriteStartArray("inputs");
            foreach (var input in request.Inputs)
            {
                w.WriteStartObject();
                WriteTensorHeader(w, input);
                if (binaryInputs)
                {
                    var blob = EncodeBinary(input);
                    blobs.Add(blob);
                    w.WriteStartObject("parameters");
                    w.WriteNumber("binary_data_size", blob.Length);
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteStartArray("data");
                    WriteData(w, input);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (request.Outputs is { Length: > 0 })
            {
                w.WriteStartArray("outputs");
                foreach (var output in request.Outputs)
                {
                    w.WriteStartObject();
                    w.WriteString("name", output);
                    if (options.OutputBinary is not null && options.OutputBinary.TryGetValue(output, out var binary))
                    {
                        w.WriteStartObject("parameters");
                        w.WriteBoolean("binary_data", binary);
                        w.WriteEndObject();
                    }
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        return Concatenate(json.WrittenSpan, blobs);
    }

    // ---------------------------------------------------------------- responses

    /// <summary>Writes an inference response; outputs that <paramref name="options"/> marks binary follow the JSON.</summary>
    public static (byte[] Body, int? HeaderLength) WriteResponse(PredictResponse response, InferOptions options)
    {
        var json = new ArrayBufferWriter<byte>();
        var blobs = new List<byte[]>();
        using (var w = new Utf8JsonWriter(json, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("model_name", response.Model);
            w.WriteString("model_version", response.Version.ToString(CultureInfo.InvariantCulture));
            if (options.Id is not null) w.WriteString("id", options.Id);
            w.WriteStartArray("outputs");
            foreach (var output in response.Outputs)
            {
                if (options.IsBinary(output.Name))
                {
                    var blob = EncodeBinary(output);
                    blobs.Add(blob);
                    w.WriteStartObject();
                    WriteTensorHeader(w, output);
                    w.WriteStartObject("parameters");
                    w.WriteNumber("binary_data_size", blob.Length);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                else WriteTensor(w, output);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Concatenate(json.WrittenSpan, blobs);
    }

    /// <summary>Writes a JSON-only inference response.</summary>
    public static void WriteResponse(Utf8JsonWriter json, PredictResponse response, string? id = null)
    {
        var (body, _) = WriteResponse(response, new InferOptions(id));
        using var document = JsonDocument.Parse(body);
        document.WriteTo(json);
    }

    /// <summary>Reads an inference response written by <see cref="WriteResponse(PredictResponse, InferOptions)"/> or any server of the protocol.</summary>
    public static (PredictResponse Response, string? Id) ReadResponse(ReadOnlyMemory<byte> body, int? headerLength)
    {
        var json = headerLength is int h ? body[..h] : body;
        var binary = headerLength is int hl ? body[hl..] : ReadOnlyMemory<byte>.Empty;
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var model = root.GetProperty("model_name").GetString()!;
        var version = root.TryGetProperty("model_version", out var v) && int.TryParse(v.GetString(), out var number) ? number : 0;
        var id = root.TryGetProperty("id", out var i) ? i.GetString() : null;
        var outputs = new List<NamedTensor>();
        var offset = 0;
        var n = 0;
        foreach (var output in root.GetProperty("outputs").EnumerateArray())
            outputs.Add(ReadTensor(output, $"outputs[{n++}]", binary, ref offset));
        return (new PredictResponse(model, version, outputs.ToArray(), false, ""), id);
    }

    public static void WriteTensor(Utf8JsonWriter json, NamedTensor tensor)
    {
        json.WriteStartObject();
        WriteTensorHeader(json, tensor);
        json.WriteStartArray("data");
        WriteData(json, tensor);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteTensorHeader(Utf8JsonWriter json, NamedTensor tensor)
    {
        json.WriteString("name", tensor.Name);
        json.WriteString("datatype", DataTypeName(tensor.ElementType));
        json.WriteStartArray("shape");
        foreach (var d in tensor.Shape) json.WriteNumberValue(d);
        json.WriteEndArray();
    }

    /// <summary>A tensor's binary form: its bytes as they are; BYTES as 4-byte little-endian length plus UTF-8.</summary>
    public static byte[] EncodeBinary(NamedTensor tensor)
    {
        if (tensor.ElementType != TensorElementType.String) return tensor.Data;
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var s in tensor.Strings!)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.GetSpan(4), (uint)bytes.Length);
            buffer.Advance(4);
            buffer.Write(bytes);
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static (byte[] Body, int? HeaderLength) Concatenate(ReadOnlySpan<byte> json, List<byte[]> blobs)
    {
        if (blobs.Count == 0) return (json.ToArray(), null);
        var body = new byte[json.Length + blobs.Sum(b => b.Length)];
        json.CopyTo(body);
        var at = json.Length;
        foreach (var blob in blobs)
        {
            blob.CopyTo(body, at);
            at += blob.Length;
        }
        return (body, json.Length);
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

    // JSON has no NaN or infinity: they are written as the strings "NaN", "Infinity", "-Infinity", which the
    // reader takes back for FP32/FP64 (and nowhere else).
    private static void WriteFloat(Utf8JsonWriter json, float value)
    {
        if (float.IsFinite(value)) json.WriteNumberValue(value);
        else json.WriteStringValue(value.ToString(CultureInfo.InvariantCulture));
    }

    private static void WriteFloat(Utf8JsonWriter json, double value)
    {
        if (double.IsFinite(value)) json.WriteNumberValue(value);
        else json.WriteStringValue(value.ToString(CultureInfo.InvariantCulture));
    }
}
