using System.Text;
using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;

namespace Mesh.Tests.Protocol;

public class InferenceJsonTests
{
    [Fact]
    public void Request_with_flat_and_nested_data_reads_the_same_tensor()
    {
        var flat = InferenceJson.ReadRequest("m", null, """{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2.5,3,4]}]}""");
        var nested = InferenceJson.ReadRequest("m", 3, """{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2.5],[3,4]]}],"outputs":[{"name":"y"}]}""");

        Assert.Equal(new float[] { 1, 2.5f, 3, 4 }, flat.Inputs[0].ToArray<float>());
        Assert.Equal(flat.Inputs[0].Data, nested.Inputs[0].Data);
        Assert.Equal(3, nested.Version);
        Assert.Equal(["y"], nested.Outputs!);
    }

    [Theory]
    [InlineData("BOOL", "[true,false]", TensorElementType.Bool)]
    [InlineData("UINT8", "[0,255]", TensorElementType.UInt8)]
    [InlineData("INT32", "[-2147483648,7]", TensorElementType.Int32)]
    [InlineData("INT64", "[9223372036854775807,-1]", TensorElementType.Int64)]
    [InlineData("FP64", "[0.1,1e300]", TensorElementType.Float64)]
    [InlineData("BYTES", "[\"a\",\"ü\"]", TensorElementType.String)]
    public void Every_datatype_survives_a_round_trip(string datatype, string data, TensorElementType type)
    {
        var request = InferenceJson.ReadRequest("m", null, $$"""{"inputs":[{"name":"t","shape":[2],"datatype":"{{datatype}}","data":{{data}}}]}""");
        var tensor = Assert.Single(request.Inputs);
        Assert.Equal(type, tensor.ElementType);

        var json = Write(new PredictResponse("m", 1, [tensor], false, "silo"));
        using var parsed = JsonDocument.Parse(json);
        var output = parsed.RootElement.GetProperty("outputs")[0];
        Assert.Equal(datatype, output.GetProperty("datatype").GetString());
        var offset = 0;
        var back = InferenceJson.ReadTensor(output, "outputs[0]", ReadOnlyMemory<byte>.Empty, ref offset);
        Assert.Equal(tensor.Data, back.Data);
        Assert.Equal(tensor.Strings, back.Strings);
        Assert.Equal("1", parsed.RootElement.GetProperty("model_version").GetString());
    }

    [Theory]
    [InlineData("not json", "$")]
    [InlineData("""{"inputs":{}}""", "inputs")]
    [InlineData("""{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}""", "inputs[0].name")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"FLOAT","data":[1]}]}""", "inputs[0].datatype")]
    [InlineData("""{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}""", "inputs[0].shape")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}""", "inputs[0].data")]
    public void Malformed_request_names_the_field(string json, string field)
    {
        var e = Assert.Throws<InvalidRequestException>(() => InferenceJson.ReadRequest("m", null, json));
        Assert.Equal(field, e.Field);
    }

    [Theory]
    [InlineData("""{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}""", "2 values given")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1,2]}]}""", "2 values given")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[256]}]}""", "out of range for uint8")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]}""", "not an integer")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["a"]}]}""", "'a' is not a number")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":["NaN"]}]}""", "a string cannot be a int32 element")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[1]}]}""", "FP16 can only be sent as binary data")]
    public void Values_that_do_not_fit_name_the_input(string json, string rule)
    {
        var e = Assert.Throws<InvalidTensorValueException>(() => InferenceJson.ReadRequest("m", null, json));
        Assert.Equal("x", e.Input);
        Assert.Contains(rule, e.Message);
    }

    private static string Write(PredictResponse response)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer)) InferenceJson.WriteResponse(writer, response);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}

public class BinaryTensorExtensionTests
{
    private static readonly NamedTensor[] Inputs =
    [
        NamedTensor.Create("u32", [2, 2], new uint[] { 1, 2, 3, uint.MaxValue }),
        NamedTensor.Create("flags", [3], new[] { true, false, true }),
        NamedTensor.FromStrings("words", [2], ["héllo", ""]),
        NamedTensor.Create("half", [2], new[] { (Half)1.5, (Half)(-2) }),
    ];

    [Fact]
    public void Binary_inputs_read_back_byte_identical()
    {
        var request = new PredictRequest("m", Inputs, Outputs: ["y"]);
        var (body, headerLength) = InferenceJson.WriteRequest(request, new InferOptions("req-1", TimeSpan.FromMilliseconds(250), OutputBinary: new Dictionary<string, bool> { ["y"] = true }), binaryInputs: true);

        Assert.NotNull(headerLength);
        var (read, options) = InferenceJson.ReadRequest("m", null, body.AsMemory(0, headerLength!.Value), body.AsMemory(headerLength.Value));

        Assert.Equal(Inputs.Select(i => i.Data), read.Inputs.Select(i => i.Data));
        Assert.Equal(["héllo", ""], read.Inputs[2].Strings!);
        Assert.Equal(TensorElementType.Float16, read.Inputs[3].ElementType);
        Assert.Equal(("req-1", TimeSpan.FromMilliseconds(250)), (options.Id, options.Timeout));
        Assert.True(options.IsBinary("y"));
    }

    [Fact]
    public void Response_outputs_can_mix_json_and_binary()
    {
        var response = new PredictResponse("m", 3, Inputs, false, "");
        var options = new InferOptions("x", AllOutputsBinary: true, OutputBinary: new Dictionary<string, bool> { ["flags"] = false });

        var (body, headerLength) = InferenceJson.WriteResponse(response, options);
        var (read, id) = InferenceJson.ReadResponse(body, headerLength);

        Assert.Equal("x", id);
        Assert.Equal(3, read.Version);
        Assert.Equal(Inputs.Select(i => i.Data), read.Outputs.Select(o => o.Data));
        using var header = JsonDocument.Parse(body.AsMemory(0, headerLength!.Value));
        var outputs = header.RootElement.GetProperty("outputs");
        Assert.True(outputs[1].TryGetProperty("data", out _));
        Assert.Equal(16, outputs[0].GetProperty("parameters").GetProperty("binary_data_size").GetInt32());
    }

    [Theory]
    [InlineData(15, 15, "binary_data_size is 15 bytes, shape [2,2] of UINT32 needs 16")]
    [InlineData(16, 17, "1 bytes of binary data that no input's binary_data_size claims")]
    [InlineData(16, 8, "16 bytes claimed, 8 left in the body")]
    public void Binary_sizes_must_fit_the_shape_and_the_body(int claimed, int sent, string message)
    {
        var json = $$$"""{"inputs":[{"name":"u32","shape":[2,2],"datatype":"UINT32","parameters":{"binary_data_size":{{{claimed}}}}}]}""";
        var e = Assert.ThrowsAny<MeshException>(() => InferenceJson.ReadRequest("m", null, Encoding.UTF8.GetBytes(json), new byte[sent]));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Huge_shape_is_refused_before_anything_is_allocated()
    {
        var e = Assert.Throws<InvalidRequestException>(() => InferenceJson.ReadRequest("m", null, """{"inputs":[{"name":"x","shape":[100000,100000,100000],"datatype":"FP32","data":[1]}]}"""));
        Assert.Equal("inputs[0].shape", e.Field);
    }

    [Fact]
    public void NaN_and_infinity_round_trip_as_strings_for_floats()
    {
        var request = InferenceJson.ReadRequest("m", null, """{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":["NaN","Infinity","-Infinity"]}]}""");
        var values = request.Inputs[0].ToArray<float>();
        Assert.True(float.IsNaN(values[0]));
        Assert.Equal([float.PositiveInfinity, float.NegativeInfinity], values[1..]);
    }
}
