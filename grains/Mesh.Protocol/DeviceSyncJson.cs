using System.Globalization;
using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;

namespace Mesh.Protocol;

/// <summary>
/// The edge sync wire format (<c>POST /v2/devices/{id}/sync</c>), written by the bridge and read by the gateway:
/// results with their sequence numbers and outputs as Open Inference Protocol tensors, declared losses, reported
/// twin properties; the answer carries the watermark and the desired properties.
/// </summary>
public static class DeviceSyncJson
{
    /// <summary>One JSON object, as bytes, written by <paramref name="body"/> (which writes the members).</summary>
    public static byte[] Object(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// One result as a sync batch carries it, and as the bridge's outbox stores it: a sync batch's
    /// <c>results</c> array is these rows as they are. Tensors travel as bytes (<see cref="WriteTensorBytes"/>),
    /// not as decimal text.
    /// </summary>
    public static byte[] WriteResult(DeviceResult r) => Object(json =>
    {
        json.WriteNumber("seq", r.Sequence);
        json.WriteString("model", r.Model);
        json.WriteNumber("version", r.Version);
        json.WriteString("at", r.At);
        json.WriteString("origin", r.Origin);
        if (r.InputSha256 is not null) json.WriteString("input_sha256", r.InputSha256);
        if (r.TraceParent is not null) json.WriteString("traceparent", r.TraceParent);
        json.WriteStartArray("outputs");
        foreach (var output in r.Outputs) WriteTensorBytes(json, output);
        json.WriteEndArray();
    });

    /// <summary>
    /// A tensor with its binary form (the bytes of <see cref="InferenceJson.EncodeBinary"/>) in <c>data_base64</c>:
    /// a float keeps its exact bits and takes 4/3 of its size, where decimal text takes two to three times that.
    /// </summary>
    public static void WriteTensorBytes(Utf8JsonWriter json, NamedTensor tensor)
    {
        json.WriteStartObject();
        json.WriteString("name", tensor.Name);
        json.WriteString("datatype", InferenceJson.DataTypeName(tensor.ElementType));
        json.WriteStartArray("shape");
        foreach (var d in tensor.Shape) json.WriteNumberValue(d);
        json.WriteEndArray();
        json.WriteBase64String("data_base64", InferenceJson.EncodeBinary(tensor));
        json.WriteEndObject();
    }

    public static byte[] WriteBatch(DeviceSyncBatch batch) =>
        WriteBatch(batch.Results.Select(r => (ReadOnlyMemory<byte>)WriteResult(r)).ToArray(), batch.Lost, batch.Reported, batch.Drift, batch.TraceParent);

    /// <summary>A sync batch around result rows already written by <see cref="WriteResult"/>, copied in as they are.</summary>
    public static byte[] WriteBatch(IReadOnlyList<ReadOnlyMemory<byte>> rows, LostResults[]? lost = null, Dictionary<string, string?>? reported = null,
        DriftSample[]? drift = null, string? traceParent = null) =>
        WriteBatch(new DeviceSyncBatch([], lost, reported, drift, traceParent), rows);

    private static byte[] WriteBatch(DeviceSyncBatch batch, IReadOnlyList<ReadOnlyMemory<byte>> rows) => Object(json =>
    {
        if (batch.TraceParent is not null) json.WriteString("traceparent", batch.TraceParent);
        json.WriteStartArray("results");
        // The rows were written by this codec; checking them again would read every byte a second time.
        foreach (var row in rows) json.WriteRawValue(row.Span, skipInputValidation: true);
        json.WriteEndArray();
        if (batch.Lost is { Length: > 0 } lost)
        {
            json.WriteStartArray("lost");
            foreach (var l in lost)
            {
                json.WriteStartObject();
                json.WriteNumber("from", l.From);
                json.WriteNumber("to", l.To);
                json.WriteString("reason", l.Reason);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        if (batch.Drift is { Length: > 0 } drift)
        {
            json.WriteStartArray("drift");
            foreach (var sample in drift)
            {
                json.WriteStartObject();
                json.WriteString("model", sample.Model);
                json.WriteString("epoch", sample.Epoch);
                json.WriteStartArray("features");
                foreach (var f in sample.Features)
                {
                    json.WriteStartObject();
                    json.WriteString("input", f.Input);
                    json.WriteNumber("feature", f.Feature);
                    json.WriteNumber("count", f.Count);
                    json.WriteNumber("mean", f.Mean);
                    json.WriteNumber("m2", f.M2);
                    json.WriteStartArray("bins");
                    foreach (var b in f.Bins) json.WriteNumberValue(b);
                    json.WriteEndArray();
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        if (batch.Reported is { Count: > 0 } reported)
        {
            json.WriteStartObject("reported");
            foreach (var (key, value) in reported) json.WriteString(key, value);
            json.WriteEndObject();
        }
    });

    /// <summary>Reads a batch; anything malformed is an <see cref="InvalidRequestException"/> naming the field.</summary>
    public static DeviceSyncBatch ReadBatch(ReadOnlyMemory<byte> body)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException("body", $"must be JSON: {e.Message}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("results", out var results) || results.ValueKind != JsonValueKind.Array)
                throw new InvalidRequestException("results", "must be an array");
            var read = new List<DeviceResult>(results.GetArrayLength());
            var i = 0;
            foreach (var r in results.EnumerateArray()) read.Add(ReadResult(r, $"results[{i++}]"));
            var lost = new List<LostResults>();
            if (root.TryGetProperty("lost", out var lostArray))
            {
                if (lostArray.ValueKind != JsonValueKind.Array) throw new InvalidRequestException("lost", "must be an array");
                var l = 0;
                foreach (var range in lostArray.EnumerateArray())
                {
                    var path = $"lost[{l++}]";
                    lost.Add(new LostResults(Long(range, "from", path), Long(range, "to", path), String(range, "reason", path)));
                }
            }
            Dictionary<string, string?>? reported = null;
            if (root.TryGetProperty("reported", out var rep))
            {
                if (rep.ValueKind != JsonValueKind.Object) throw new InvalidRequestException("reported", "must be an object of strings");
                reported = new Dictionary<string, string?>(StringComparer.Ordinal);
                foreach (var p in rep.EnumerateObject())
                {
                    string name;
                    try { name = p.Name; }
                    catch (InvalidOperationException) { throw new InvalidRequestException("reported", "property names must be valid UTF-8 text"); }
                    reported[name] = p.Value.ValueKind switch
                    {
                        JsonValueKind.String => InferenceJson.Text(p.Value, $"reported.{name}"),
                        JsonValueKind.Null => null,
                        _ => throw new InvalidRequestException($"reported.{p.Name}", "must be a string or null"),
                    };
                }
            }
            var drift = new List<DriftSample>();
            if (root.TryGetProperty("drift", out var driftArray))
            {
                if (driftArray.ValueKind != JsonValueKind.Array) throw new InvalidRequestException("drift", "must be an array");
                var d = 0;
                foreach (var sample in driftArray.EnumerateArray())
                {
                    var path = $"drift[{d++}]";
                    if (!sample.TryGetProperty("features", out var features) || features.ValueKind != JsonValueKind.Array)
                        throw new InvalidRequestException($"{path}.features", "must be an array");
                    var f = 0;
                    var stats = features.EnumerateArray().Select(feature =>
                    {
                        var at = $"{path}.features[{f++}]";
                        if (!feature.TryGetProperty("bins", out var bins) || bins.ValueKind != JsonValueKind.Array
                            || bins.EnumerateArray().Any(b => b.ValueKind != JsonValueKind.Number || !b.TryGetInt64(out var n) || n < 0))
                            throw new InvalidRequestException($"{at}.bins", "must be an array of counts");
                        return new FeatureStatistics(String(feature, "input", at), (int)Long(feature, "feature", at), Long(feature, "count", at),
                            Double(feature, "mean", at), Double(feature, "m2", at), bins.EnumerateArray().Select(b => b.GetInt64()).ToArray());
                    }).ToArray();
                    drift.Add(new DriftSample(String(sample, "model", path), String(sample, "epoch", path), stats));
                }
            }
            return new DeviceSyncBatch(read.ToArray(), lost.ToArray(), reported, drift.ToArray(), TraceParent(root, null));
        }
    }

    /// <summary>One result row (see <see cref="WriteResult"/>); anything malformed is an <see cref="InvalidRequestException"/>.</summary>
    public static DeviceResult ReadResult(ReadOnlyMemory<byte> row)
    {
        try
        {
            using var document = JsonDocument.Parse(row);
            return ReadResult(document.RootElement, "result");
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException("result", $"must be JSON: {e.Message}");
        }
    }

    private static DeviceResult ReadResult(JsonElement r, string path)
    {
        if (r.ValueKind != JsonValueKind.Object) throw new InvalidRequestException(path, "must be an object");
        var outputs = new List<NamedTensor>();
        if (!r.TryGetProperty("outputs", out var outs) || outs.ValueKind != JsonValueKind.Array)
            throw new InvalidRequestException($"{path}.outputs", "must be an array of tensors");
        var o = 0;
        foreach (var tensor in outs.EnumerateArray()) outputs.Add(ReadOutput(tensor, $"{path}.outputs[{o++}]"));
        return new DeviceResult(
            Long(r, "seq", path),
            String(r, "model", path),
            (int)Long(r, "version", path),
            r.TryGetProperty("at", out var at) && at.ValueKind == JsonValueKind.String && at.TryGetDateTimeOffset(out var when)
                ? when : throw new InvalidRequestException($"{path}.at", "must be an ISO 8601 time"),
            String(r, "origin", path),
            r.TryGetProperty("input_sha256", out var digest) && digest.ValueKind == JsonValueKind.String ? InferenceJson.Text(digest, $"{path}.input_sha256") : null,
            outputs.ToArray(),
            TraceParent(r, path));
    }

    // Bytes in data_base64 (what bridges write), or Open Inference Protocol values in data (what older bridges wrote).
    private static NamedTensor ReadOutput(JsonElement tensor, string path)
    {
        var offset = 0;
        if (tensor.ValueKind != JsonValueKind.Object || !tensor.TryGetProperty("data_base64", out var encoded))
            return InferenceJson.ReadTensor(tensor, path, ReadOnlyMemory<byte>.Empty, ref offset);
        if (tensor.TryGetProperty("data", out _)) throw new InvalidRequestException($"{path}.data", "must be absent when data_base64 is given");
        var name = tensor.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
            ? InferenceJson.Text(n, $"{path}.name") : throw new InvalidRequestException($"{path}.name", "must be a string");
        if (!tensor.TryGetProperty("datatype", out var dt) || dt.ValueKind != JsonValueKind.String || !InferenceJson.TryParseDataType(InferenceJson.Text(dt, $"{path}.datatype"), out var type))
            throw new InvalidRequestException($"{path}.datatype", "must be a tensor data type (e.g. FP32, INT64, BYTES)");
        if (!tensor.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array
            || s.EnumerateArray().Any(d => d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0))
            throw new InvalidRequestException($"{path}.shape", "must be an array of non-negative integers");
        var shape = s.EnumerateArray().Select(d => d.GetInt64()).ToArray();
        var count = InferenceJson.CheckedCount(shape, $"{path}.shape");
        if (encoded.ValueKind != JsonValueKind.String) throw new InvalidRequestException($"{path}.data_base64", "must be a base64 string");
        // The decoded size is known from the text's length: a fixed-size type's is checked before anything is decoded.
        var raw = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(encoded);
        var text = raw[1..^1];
        var decodedMax = (long)text.Length / 4 * 3;
        var needed = count * type.ByteSize();
        if (type != TensorElementType.String && (text.Length % 4 != 0 || decodedMax < needed || decodedMax - 2 > needed))
            throw new InvalidRequestException($"{path}.data_base64", $"holds about {decodedMax} bytes, shape {NamedTensor.ShapeText(shape)} of {InferenceJson.DataTypeName(type)} needs {needed}");
        var bytes = new byte[decodedMax];
        if (System.Buffers.Text.Base64.DecodeFromUtf8(text, bytes, out _, out var written) != System.Buffers.OperationStatus.Done)
            throw new InvalidRequestException($"{path}.data_base64", "must be base64 (RFC 4648, padded)");
        try
        {
            return InferenceJson.DecodeBinary(name, type, shape, bytes.AsSpan(0, written));
        }
        catch (InvalidTensorValueException e)
        {
            throw new InvalidRequestException($"{path}.data_base64", e.Message);
        }
    }

    // A trace context that does not parse is refused like any malformed field: a device that sends one has a bug.
    private static string? TraceParent(JsonElement element, string? path)
    {
        if (!element.TryGetProperty("traceparent", out var value) || value.ValueKind == JsonValueKind.Null) return null;
        var field = path is null ? "traceparent" : $"{path}.traceparent";
        var text = value.ValueKind == JsonValueKind.String ? InferenceJson.TryText(value) : null;
        if (text is null || !System.Diagnostics.ActivityContext.TryParse(text, null, out _))
            throw new InvalidRequestException(field, "must be a W3C traceparent (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>)");
        return text;
    }

    public static byte[] WriteAck(DeviceSyncAck ack) => Object(json =>
    {
        json.WriteNumber("applied_through", ack.AppliedThrough);
        json.WriteNumber("applied", ack.Applied);
        json.WriteNumber("duplicates", ack.Duplicates);
        json.WriteNumber("missing", ack.MissingCount);
        json.WriteStartObject("desired");
        foreach (var (key, value) in ack.Desired) json.WriteString(key, value);
        json.WriteEndObject();
    });

    /// <summary>
    /// The check a device runs before swapping in a version (<c>GET .../validation</c>): inputs and the outputs the
    /// mesh's ONNX Runtime gave for them, as Open Inference Protocol tensors.
    /// </summary>
    public static byte[] WriteValidationCase(IEnumerable<NamedTensor> inputs, IEnumerable<NamedTensor> outputs) => Object(json =>
    {
        json.WriteStartArray("inputs");
        foreach (var input in inputs) InferenceJson.WriteTensor(json, input);
        json.WriteEndArray();
        json.WriteStartArray("outputs");
        foreach (var output in outputs) InferenceJson.WriteTensor(json, output);
        json.WriteEndArray();
    });

    public static (NamedTensor[] Inputs, NamedTensor[] Outputs) ReadValidationCase(ReadOnlyMemory<byte> body)
    {
        using var document = JsonDocument.Parse(body);
        var offset = 0;
        NamedTensor[] Tensors(string name) => document.RootElement.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray().Select((t, i) => InferenceJson.ReadTensor(t, $"{name}[{i}]", ReadOnlyMemory<byte>.Empty, ref offset)).ToArray()
            : throw new InvalidRequestException(name, "must be an array of tensors");
        return (Tensors("inputs"), Tensors("outputs"));
    }

    public static DeviceSyncAck ReadAck(ReadOnlySpan<byte> body)
    {
        using var document = JsonDocument.Parse(body.ToArray());
        var root = document.RootElement;
        var desired = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("desired", out var d) && d.ValueKind == JsonValueKind.Object)
            foreach (var p in d.EnumerateObject()) desired[p.Name] = p.Value.GetString() ?? "";
        return new DeviceSyncAck(
            root.GetProperty("applied_through").GetInt64(), root.GetProperty("applied").GetInt32(),
            root.GetProperty("duplicates").GetInt32(), root.GetProperty("missing").GetInt64(), desired);
    }

    private static long Long(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n)
            ? n : throw new InvalidRequestException($"{path}.{name}", "must be an integer");

    private static double Double(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var n)
            ? n : throw new InvalidRequestException($"{path}.{name}", "must be a number");

    private static string String(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? InferenceJson.Text(v, $"{path}.{name}") : throw new InvalidRequestException($"{path}.{name}", "must be a string");

    /// <summary>Lower-case hex SHA-256 of a device's inputs, as results carry it in place of the inputs.</summary>
    public static string InputDigest(IEnumerable<NamedTensor> inputs)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var input in inputs)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(input.Name + ":" + string.Join(',', input.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ";"));
            if (input.Strings is { } strings) foreach (var s in strings) hash.AppendData(System.Text.Encoding.UTF8.GetBytes(s));
            else hash.AppendData(input.Data);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
