using System.Text;
using Mesh.Abstractions.Errors;
using Mesh.Protocol;

namespace Mesh.Tests.Protocol;

/// <summary>The sync batch's result rows: tensors as base64 bytes, checked (naming the field) before they are decoded.</summary>
public sealed class DeviceSyncJsonTests
{
    private static string Batch(string tensor) =>
        $$"""{"results":[{"seq":1,"model":"mlp","version":1,"at":"2026-12-01T12:00:00+00:00","origin":"edge","outputs":[{{tensor}}]}]}""";

    private static InvalidRequestException Refused(string tensor) =>
        Assert.Throws<InvalidRequestException>(() => DeviceSyncJson.ReadBatch(Encoding.UTF8.GetBytes(Batch(tensor))));

    [Fact]
    public void A_base64_tensor_and_a_decimal_one_from_an_older_bridge_read_the_same()
    {
        var bytes = new[] { 1.5f, -2f }.SelectMany(BitConverter.GetBytes).ToArray();
        var fromBytes = DeviceSyncJson.ReadBatch(Encoding.UTF8.GetBytes(Batch($$"""{"name":"y","datatype":"FP32","shape":[1,2],"data_base64":"{{Convert.ToBase64String(bytes)}}"}"""))).Results[0].Outputs[0];
        var fromText = DeviceSyncJson.ReadBatch(Encoding.UTF8.GetBytes(Batch("""{"name":"y","datatype":"FP32","shape":[1,2],"data":[1.5,-2]}"""))).Results[0].Outputs[0];
        Assert.Equal(fromText.AsSpan<float>().ToArray(), fromBytes.AsSpan<float>().ToArray());
    }

    [Fact]
    public void A_base64_tensor_of_the_wrong_size_or_not_base64_is_refused_naming_the_field()
    {
        var size = Refused("""{"name":"y","datatype":"FP32","shape":[1000000000],"data_base64":"AACAPw=="}""");
        Assert.Equal("results[0].outputs[0].data_base64", size.Field);
        Assert.Contains("needs 4000000000", size.Message);

        Assert.Equal("results[0].outputs[0].data_base64", Refused("""{"name":"y","datatype":"FP32","shape":[1],"data_base64":"AA*APw=="}""").Field);
        Assert.Equal("results[0].outputs[0].data", Refused("""{"name":"y","datatype":"FP32","shape":[1],"data_base64":"AACAPw==","data":[1]}""").Field);
        Assert.Equal("results[0].outputs[0].data_base64", Refused("""{"name":"y","datatype":"FP32","shape":[1],"data_base64":4}""").Field);
    }
}
