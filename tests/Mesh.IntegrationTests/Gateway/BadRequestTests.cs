using System.Net;
using System.Text;
using System.Text.Json;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;

namespace Mesh.IntegrationTests.Gateway;

/// <summary>
/// Malformed and wrong requests, each with its documented status and an error that names the problem; after
/// each one the gateway still answers a valid request.
/// </summary>
[Collection(OpenGatewayCollection.Name), Trait("Category", "Integration")]
public class BadRequestTests(OpenGateway gateway) : IAsyncLifetime
{
    private static readonly string Row = GatewayHttp.FloatList(MlpModel.SampleInput(1));
    private static string Mlp(string tensor) => $$"""{"inputs":[{{tensor}}]}""";
    private static string MlpInput(string shape, string data, string datatype = "FP32") =>
        Mlp($$"""{"name":"input","shape":{{shape}},"datatype":"{{datatype}}","data":{{data}}}""");
    private static string Echo(string name, string datatype, string data) =>
        // Only the tensor under test is wrong; validation of the tensor comes before the check for missing inputs.
        $$"""{"inputs":[{"name":"{{name}}","shape":[1,3],"datatype":"{{datatype}}","data":{{data}}}]}""";

    public const string EchoModel = "echo-bad-requests";

    public async Task InitializeAsync()
    {
        using var upload = new ByteArrayContent(Mesh.SampleModels.EchoModel.Build());
        using var response = await gateway.Http.PostAsync($"/v2/repository/models/{EchoModel}/versions", upload);
        Assert.True(response.IsSuccessStatusCode);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public static IEnumerable<object?[]> Cases() => new (string Case, string Path, string Body, int? HeaderLength, HttpStatusCode Status, string Error)[]
    {
        ("bad JSON", "mlp", "{", null, HttpStatusCode.BadRequest, "request field '$': not valid JSON"),
        ("body not an object", "mlp", "[1]", null, HttpStatusCode.BadRequest, "request field '$': must be a JSON object"),
        ("no inputs", "mlp", "{}", null, HttpStatusCode.BadRequest, "request field 'inputs': must be an array"),
        ("inputs not an array", "mlp", """{"inputs":{}}""", null, HttpStatusCode.BadRequest, "request field 'inputs': must be an array"),
        ("input without name", "mlp", Mlp("""{"shape":[1],"datatype":"FP32","data":[1]}"""), null, HttpStatusCode.BadRequest, "request field 'inputs[0].name'"),
        ("unknown datatype", "mlp", MlpInput("[1,64]", $"[{Row}]", "FLOAT32"), null, HttpStatusCode.BadRequest, "request field 'inputs[0].datatype': must be one of BOOL"),
        ("datatype differs from the model", "mlp", MlpInput("[1,64]", $"[{Row}]", "FP64"), null, HttpStatusCode.BadRequest, "input 'input': expected element type float32, got float64"),
        ("data shorter than shape", "mlp", MlpInput("[2,64]", $"[{Row}]"), null, HttpStatusCode.BadRequest, "input 'input': 64 values given, its shape [2,64] holds 128"),
        ("unknown model", "nope", MlpInput("[1,64]", $"[{Row}]"), null, HttpStatusCode.NotFound, "model 'nope' is not deployed"),
        ("unknown version", "mlp/versions/9", MlpInput("[1,64]", $"[{Row}]"), null, HttpStatusCode.NotFound, "model 'mlp' has no version 9 (versions: 1)"),
        ("version not a number", "mlp/versions/abc", MlpInput("[1,64]", $"[{Row}]"), null, HttpStatusCode.BadRequest, "request field 'version': 'abc' is not a version number"),
        ("invalid model name", "bad%20name", MlpInput("[1,64]", $"[{Row}]"), null, HttpStatusCode.BadRequest, "model name 'bad name'"),
        ("unknown input", "mlp", $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{Row}}]},{"name":"extra","shape":[1],"datatype":"FP32","data":[1]}]}""", null, HttpStatusCode.BadRequest, "input 'extra': model 'mlp' has no such input"),
        ("unknown output", "mlp", $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{Row}}]}],"outputs":[{"name":"logits"}]}""", null, HttpStatusCode.BadRequest, "output 'logits': model 'mlp' has no tensor output"),
        ("outputs not an array", "mlp", $$$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{{Row}}}]}],"outputs":{}}""", null, HttpStatusCode.BadRequest, "request field 'outputs': must be an array"),
        ("missing input", "mlp", """{"inputs":[]}""", null, HttpStatusCode.BadRequest, "input 'input': required by model 'mlp' but not given"),
        ("FP16 in JSON", "mlp", MlpInput("[1,64]", $"[{Row}]", "FP16"), null, HttpStatusCode.BadRequest, "input 'input': FP16 can only be sent as binary data"),
        ("negative dimension", "mlp", MlpInput("[-1,64]", $"[{Row}]"), null, HttpStatusCode.BadRequest, "request field 'inputs[0].shape': must be an array of non-negative integers (got -1)"),
        ("huge shape", "mlp", MlpInput("[100000,100000,64]", "[1]"), null, HttpStatusCode.BadRequest, "has more elements than one request can carry"),
        ("wrong rank", "mlp", MlpInput("[64]", $"[{Row}]"), null, HttpStatusCode.BadRequest, "input 'input': expected rank 2 (shape [-1,64]), got rank 1 (shape [64])"),
        ("fixed dimension differs", "mlp", MlpInput("[1,63]", $"[{string.Join(",", Enumerable.Repeat("0.5", 63))}]"), null, HttpStatusCode.BadRequest, "input 'input': dimension 1 must be 64, got 63"),
        ("bool in float data", "mlp", MlpInput("[1,64]", $"[true,{string.Join(",", Enumerable.Repeat("0.5", 63))}]"), null, HttpStatusCode.BadRequest, "input 'input': element 0: a bool cannot be a float32 element"),
        ("null in data", "mlp", MlpInput("[1,64]", $"[null,{string.Join(",", Enumerable.Repeat("0.5", 63))}]"), null, HttpStatusCode.BadRequest, "input 'input': element 0: null is not a tensor value"),
        ("bare NaN is not JSON", "mlp", MlpInput("[1,64]", $"[NaN,{string.Join(",", Enumerable.Repeat("0.5", 63))}]"), null, HttpStatusCode.BadRequest, "not valid JSON"),
        ("NaN where an integer is wanted", EchoModel, Echo("i64", "INT64", """["NaN",1,2]"""), null, HttpStatusCode.BadRequest, "input 'i64': element 0: a string cannot be a int64 element"),
        ("out of range for uint8", EchoModel, Echo("u8", "UINT8", "[1,2,300]"), null, HttpStatusCode.BadRequest, "input 'u8': element 2: 300 is out of range for uint8"),
        ("fraction for an integer", EchoModel, Echo("i32", "INT32", "[1,2.5,3]"), null, HttpStatusCode.BadRequest, "input 'i32': element 1: 2.5 is not an integer"),
        ("number for a string", EchoModel, Echo("text", "BYTES", """["a",2,"c"]"""), null, HttpStatusCode.BadRequest, "input 'text': element 1: a number cannot be a string element"),
        ("header length past the body", "mlp", MlpInput("[1,64]", $"[{Row}]"), 1_000_000, HttpStatusCode.BadRequest, "request field 'Inference-Header-Content-Length'"),
        ("binary size that does not fit the shape", "mlp", """{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","parameters":{"binary_data_size":3}}]}abc""", 99, HttpStatusCode.BadRequest, "input 'input': binary_data_size is 3 bytes, shape [1,64] of FP32 needs 256"),
        ("negative timeout", "mlp", $$"""{"parameters":{"timeout":-5},"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{Row}}]}]}""", null, HttpStatusCode.BadRequest, "request field 'parameters.timeout': must be a positive number of microseconds"),
        ("body over the limit", "mlp", MlpInput("[1,64]", "[" + new string(' ', OpenGateway.MaxBody) + Row + "]"), null, HttpStatusCode.RequestEntityTooLarge, $"the request body is larger than the limit of {OpenGateway.MaxBody} bytes (Mesh:Gateway:MaxRequestBodyBytes)"),
        ("NaN where a float may be NaN is served", "mlp", MlpInput("[1,64]", $"[\"NaN\",{string.Join(",", Enumerable.Repeat("0.5", 63))}]"), null, HttpStatusCode.OK, ""),
    }.Select(c => new object?[] { c.Case, c.Path, c.Body, c.HeaderLength, c.Status, c.Error });

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Answers_with_its_status_and_names_the_problem(string @case, string path, string body, int? headerLength, HttpStatusCode status, string error)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.ContentType = new("application/json");
        if (headerLength is int h)
            content.Headers.Add("Inference-Header-Content-Length", (h == 99 ? body.IndexOf("abc", StringComparison.Ordinal) : h).ToString());
        // Expect: 100-continue, as curl sends for large bodies: the gateway refuses an oversized body from its
        // Content-Length before the client uploads it, instead of cutting the upload off.
        using var message = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{path}/infer") { Content = content };
        message.Headers.ExpectContinue = true;
        using var response = await gateway.Http.SendAsync(message);
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(status == response.StatusCode, $"{@case}: expected {status}, got {response.StatusCode}: {text}");
        if (status != HttpStatusCode.OK)
        {
            using var json = JsonDocument.Parse(text);
            Assert.Contains(error, json.RootElement.GetProperty("error").GetString());
        }

        var (after, _) = await gateway.Http.PostJsonAsync("/v2/models/mlp/infer", MlpInput("[1,64]", $"[{Row}]"));
        Assert.Equal(HttpStatusCode.OK, after);
    }

    [Fact]
    public void The_table_has_at_least_25_cases() => Assert.True(Cases().Count() >= 25);
}
