using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Mesh.Abstractions.Inference;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.IntegrationTests.Gateway;

[Collection(OpenGatewayCollection.Name), Trait("Category", "Integration")]
public class RestApiTests(OpenGateway gateway)
{
    private HttpClient Http => gateway.Http;

    private async Task<string> DeployFraudAsync()
    {
        var name = TestModels.UniqueName("fraud");
        using var content = new ByteArrayContent(TestModels.Fraud);
        using var response = await Http.PostAsync($"/v2/repository/models/{name}/versions", content);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return name;
    }

    [Fact]
    public async Task A_routing_key_parameter_keeps_a_caller_on_one_version_of_a_split()
    {
        var model = TestModels.UniqueName("sticky");
        var mesh = gateway.App.Services.GetRequiredService<Mesh.Client.MeshClient>();
        await mesh.DeployAsync(model, MlpModel.Build(new MlpModel.Options(Seed: 1)));
        await mesh.DeployAsync(model, MlpModel.Build(new MlpModel.Options(Seed: 2)), makeDefault: false);
        await mesh.SetTrafficAsync(model, new Mesh.Abstractions.Models.TrafficWeight(1, 50), new Mesh.Abstractions.Models.TrafficWeight(2, 50));
        // No wait for routing tables: no silo has routed this new model yet, so its first predict reads the split.
        var byKey = new Dictionary<string, HashSet<string>>();
        foreach (var key in Enumerable.Range(0, 12).Select(k => $"k{k}"))
            for (var round = 0; round < 3; round++)
            {
                var body = $$"""{"parameters":{"routing_key":"{{key}}"},"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{GatewayHttp.FloatList(MlpModel.SampleInput(1))}}]}]}""";
                var (status, answer) = await gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", body);
                Assert.Equal(HttpStatusCode.OK, status);
                (byKey.TryGetValue(key, out var seen) ? seen : byKey[key] = []).Add(answer.GetProperty("model_version").GetString()!);
            }
        Assert.All(byKey.Values, v => Assert.Single(v));
        Assert.Equal(["1", "2"], byKey.Values.Select(v => v.Single()).Distinct().Order());
        var (bad, error) = await gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", """{"parameters":{"routing_key":7},"inputs":[]}""");
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Equal("request field 'parameters.routing_key': must be a string of 1 to 256 characters", error.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Health_answers_with_status_and_kserve_bodies()
    {
        var live = await Http.GetJsonAsync("/v2/health/live");
        Assert.Equal((HttpStatusCode.OK, true), (live.Status, live.Body.GetProperty("live").GetBoolean()));
        var ready = await Http.GetJsonAsync("/v2/health/ready");
        Assert.Equal((HttpStatusCode.OK, true), (ready.Status, ready.Body.GetProperty("ready").GetBoolean()));
    }

    [Fact]
    public async Task Server_metadata_names_the_server()
    {
        var (status, body) = await Http.GetJsonAsync("/v2");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("mesh", body.GetProperty("name").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("version").GetString()));
        // The extensions it lists: TritonExtensionTests.
    }

    [Fact]
    public async Task Model_metadata_lists_versions_platform_and_tensors_with_variable_dimensions()
    {
        var (status, mlp) = await Http.GetJsonAsync("/v2/models/mlp");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("""{"name":"mlp","versions":["1"],"platform":"onnx_onnxv1","inputs":[{"name":"input","datatype":"FP32","shape":[-1,64]}],"outputs":[{"name":"probabilities","datatype":"FP32","shape":[-1,10]}]}""", mlp.GetRawText());

        var fraud = await DeployFraudAsync();
        var (_, meta) = await Http.GetJsonAsync($"/v2/models/{fraud}/versions/1");
        var category = meta.GetProperty("inputs").EnumerateArray().Single(i => i.GetProperty("name").GetString() == "Category");
        Assert.Equal("BYTES", category.GetProperty("datatype").GetString());
        Assert.Equal([-1, 1], category.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Contains(meta.GetProperty("outputs").EnumerateArray(), o => o.GetProperty("name").GetString() == "PredictedLabel.output" && o.GetProperty("datatype").GetString() == "BOOL");
    }

    [Fact]
    public async Task Model_ready_is_200_for_a_deployed_version_and_404_otherwise()
    {
        var ready = await Http.GetJsonAsync("/v2/models/mlp/versions/1/ready");
        Assert.Equal("""{"name":"mlp","ready":true}""", ready.Body.GetRawText());
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetJsonAsync("/v2/models/mlp/versions/7/ready")).Status);
        var missing = await Http.GetJsonAsync("/v2/models/absent/ready");
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal("model 'absent' is not deployed", missing.Body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Infer_echoes_the_id_and_matches_onnxruntime()
    {
        var row = MlpModel.SampleInput(2);
        var (status, body) = await Http.PostJsonAsync("/v2/models/mlp/infer",
            $$"""{"id":"req-42","inputs":[{"name":"input","shape":[2,64],"datatype":"FP32","data":[{{GatewayHttp.FloatList(row)}}]}]}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(("mlp", "1", "req-42"), (body.GetProperty("model_name").GetString(), body.GetProperty("model_version").GetString(), body.GetProperty("id").GetString()));
        var output = Assert.Single(body.GetProperty("outputs").EnumerateArray());
        Assert.Equal(("probabilities", "FP32"), (output.GetProperty("name").GetString(), output.GetProperty("datatype").GetString()));
        Assert.Equal([2, 10], output.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal(Reference(row, 2), GatewayHttp.Floats(output.GetProperty("data")));
    }

    [Fact]
    public async Task Nested_and_flat_data_give_the_same_answer()
    {
        var row = MlpModel.SampleInput(2);
        var nested = $"[[{GatewayHttp.FloatList(row[..64])}],[{GatewayHttp.FloatList(row[64..])}]]";
        var flat = await Http.PostJsonAsync("/v2/models/mlp/infer", $$"""{"inputs":[{"name":"input","shape":[2,64],"datatype":"FP32","data":[{{GatewayHttp.FloatList(row)}}]}]}""");
        var deep = await Http.PostJsonAsync("/v2/models/mlp/infer", $$"""{"inputs":[{"name":"input","shape":[2,64],"datatype":"FP32","data":{{nested}}}]}""");
        Assert.Equal(flat.Body.GetProperty("outputs").GetRawText(), deep.Body.GetProperty("outputs").GetRawText());
    }

    [Fact]
    public async Task Fraud_model_over_rest_with_outputs_filtered()
    {
        var fraud = await DeployFraudAsync();
        var request = await File.ReadAllTextAsync(TestModels.PathOf("fraud.json"));

        var (status, body) = await Http.PostJsonAsync($"/v2/models/{fraud}/versions/1/infer", request);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("two-payments", body.GetProperty("id").GetString());
        var outputs = body.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        Assert.Equal(["PredictedLabel.output", "Probability.output"], outputs.Keys.Order());
        Assert.Equal([true, false], outputs["PredictedLabel.output"].GetProperty("data").EnumerateArray().Select(v => v.GetBoolean()));
    }

    [Fact]
    public async Task Binary_extension_returns_byte_identical_tensors_to_the_json_path()
    {
        var fraud = await DeployFraudAsync();
        var inputs = TestModels.Transactions((950f, 3f, 1500f, 6f, 1f, "electronics"), (42.5f, 13f, 3.2f, 0f, 0f, "grocery"), (18f, 2f, 20f, 4f, 0f, "online"));
        var predict = new PredictRequest(fraud, inputs, Outputs: ["Probability.output", "PredictedLabel.output", "Category.output"]);

        var (jsonBody, _) = InferenceJson.WriteRequest(predict, InferOptions.Default, binaryInputs: false);
        var viaJson = await PostAsync(fraud, jsonBody, null);
        var (binaryBody, headerLength) = InferenceJson.WriteRequest(predict, new InferOptions(AllOutputsBinary: true), binaryInputs: true);
        var viaBinary = await PostAsync(fraud, binaryBody, headerLength);

        Assert.NotNull(viaBinary.HeaderLength);
        Assert.Null(viaJson.HeaderLength);
        var json = InferenceJson.ReadResponse(viaJson.Body, null).Response;
        var binary = InferenceJson.ReadResponse(viaBinary.Body, viaBinary.HeaderLength).Response;
        Assert.Equal(json.Outputs.Select(o => o.Name), binary.Outputs.Select(o => o.Name));
        Assert.Equal(json.Outputs.Select(o => o.Data), binary.Outputs.Select(o => o.Data));
        Assert.Equal(["electronics", "grocery", "online"], binary.Outputs[2].Strings!);
    }

    [Fact]
    public async Task A_timeout_that_passes_answers_504()
    {
        var (status, body) = await Http.PostJsonAsync("/v2/models/mlp/infer",
            $$"""{"parameters":{"timeout":1},"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{GatewayHttp.FloatList(MlpModel.SampleInput(1))}}]}]}""");
        Assert.Equal(HttpStatusCode.GatewayTimeout, status);
        Assert.Contains("deadline", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Repository_index_load_unload_and_deploy()
    {
        var name = TestModels.UniqueName("repo");
        var load = await Http.PostJsonAsync($"/v2/repository/models/{name}/load",
            $$$"""{"parameters":{"file:1/model.onnx":"{{{Convert.ToBase64String(TestModels.Mlp)}}}"}}""");
        Assert.Equal(HttpStatusCode.OK, load.Status);

        var (status, index) = await Http.PostJsonAsync("/v2/repository/index", "{}");
        Assert.Equal(HttpStatusCode.OK, status);
        var entry = index.EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        Assert.Equal(("1", "READY"), (entry.GetProperty("version").GetString(), entry.GetProperty("state").GetString()));

        using var upload = new ByteArrayContent(MlpModel.Build(new MlpModel.Options(Hidden: 32)));
        using var deployed = await Http.PostAsync($"/v2/repository/models/{name}/versions?makeDefault=false", upload);
        Assert.Equal(HttpStatusCode.Created, deployed.StatusCode);
        using var version = JsonDocument.Parse(await deployed.Content.ReadAsStringAsync());
        Assert.Equal("2", version.RootElement.GetProperty("version").GetString());
        Assert.Equal("1", (await Http.PostJsonAsync($"/v2/models/{name}/infer", $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{GatewayHttp.FloatList(MlpModel.SampleInput(1))}}]}]}""")).Body.GetProperty("model_version").GetString());

        Assert.Equal(HttpStatusCode.OK, (await Http.PostJsonAsync($"/v2/repository/models/{name}/unload", "{}")).Status);
        // Unloaded: not ready and refused until loaded (TritonExtensionTests has the whole round trip).
        Assert.Equal(HttpStatusCode.BadRequest, (await Http.PostJsonAsync($"/v2/models/{name}/versions/2/infer", $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{GatewayHttp.FloatList(MlpModel.SampleInput(1))}}]}]}""")).Status);
    }

    private async Task<(byte[] Body, int? HeaderLength)> PostAsync(string model, byte[] body, int? headerLength)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(headerLength is null ? "application/json" : "application/octet-stream");
        if (headerLength is int h) content.Headers.Add(InferenceJson.HeaderLengthHeader, h.ToString());
        using var response = await Http.PostAsync($"/v2/models/{model}/infer", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        int? responseHeader = response.Headers.TryGetValues(InferenceJson.HeaderLengthHeader, out var values) ? int.Parse(values.Single()) : null;
        return (await response.Content.ReadAsByteArrayAsync(), responseHeader);
    }

    public static float[] Reference(float[] rows, int count)
    {
        using var session = new InferenceSession(TestModels.Mlp);
        using var value = OrtValue.CreateTensorValueFromMemory(rows, [count, 64]);
        using var result = session.Run(new RunOptions(), [MlpModel.InputName], [value], [MlpModel.OutputName]);
        return result[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
