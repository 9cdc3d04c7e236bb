using System.Text;
using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Tensors;

namespace Mesh.Tests.Tensors;

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
        var back = InferenceJson.ReadTensor(output, "outputs[0]");
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
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1,2]}]}""", "more than 1 values")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[256]}]}""", "out of range for uint8")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]}""", "not an integer")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["a"]}]}""", "a string cannot be")]
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
