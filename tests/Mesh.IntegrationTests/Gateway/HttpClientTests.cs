using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Tensors;
using Mesh.Client;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Mesh.Client.Http;

namespace Mesh.IntegrationTests.Gateway;

[Collection(OpenGatewayCollection.Name), Trait("Category", "Integration")]
public class HttpClientTests(OpenGateway gateway)
{
    private MeshHttpClient Client => new(gateway.Http);

    [Fact]
    public async Task Predict_over_http_equals_onnxruntime()
    {
        var rows = MlpModel.SampleInput(7, seed: 5);
        var response = await Client.PredictAsync(new PredictRequest("mlp", [NamedTensor.Create("input", [7, 64], rows)]));
        Assert.Equal((("mlp", 1)), (response.Model, response.Version));
        Assert.Equal(RestApiTests.Reference(rows, 7), response.Output(MlpModel.OutputName).ToArray<float>());
    }

    [Fact]
    public async Task Index_and_metadata()
    {
        Assert.Contains(await Client.IndexAsync(), e => e.Name == "mlp" && e.Version == "1" && e.State == "READY");
        var metadata = await Client.GetMetadataAsync("mlp");
        Assert.Equal(TensorElementType.Float32, metadata.Signature.Inputs[0].ElementType);
        Assert.Equal([-1, 64], metadata.Signature.Inputs[0].Shape);
    }

    [Fact]
    public async Task Errors_carry_the_status_and_the_gateway_message()
    {
        var e = await Assert.ThrowsAsync<MeshHttpException>(() => Client.PredictAsync(new PredictRequest("mlp", [NamedTensor.Create("input", [1, 3], new float[3])])));
        Assert.Equal(400, e.Status);
        Assert.Equal("input 'input': dimension 1 must be 64, got 3 (expected shape [-1,64], got [1,3])", e.Message);
        Assert.Equal(404, (await Assert.ThrowsAsync<MeshHttpException>(() => Client.GetMetadataAsync("absent"))).Status);
    }
}

/// <summary>README's curl examples, run as written against a gateway (only the address is this test's).</summary>
[Collection(OpenGatewayCollection.Name), Trait("Category", "Integration")]
public class ReadmeCurlExamplesTests(OpenGateway gateway)
{
    [Fact]
    public async Task Every_curl_example_in_the_readme_runs_and_answers_as_shown()
    {
        var root = MeshProcess.RepositoryRoot;
        var readme = await File.ReadAllLinesAsync(Path.Combine(root, "README.md"));
        var start = Array.FindIndex(readme, l => l.Contains("<!-- curl examples: run by tests -->"));
        Assert.True(start >= 0, "README has no marked curl examples");
        var commands = readme.Skip(start + 2).TakeWhile(l => !l.StartsWith("```")).Where(l => l.StartsWith("curl ")).ToList();
        var expected = new[] { "{\"ready\":true}", "\"platform\":\"onnx_onnxv1\"", "\"sha256\":", "\"PredictedLabel.output\"", "dimension 1 must be 64, got 3" };
        Assert.Equal(expected.Length, commands.Count);

        for (var i = 0; i < commands.Count; i++)
        {
            var command = commands[i].Replace("http://127.0.0.1:8000", gateway.BaseAddress.ToString().TrimEnd('/'));
            var shell = new System.Diagnostics.ProcessStartInfo("bash", ["-c", command]) { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = System.Diagnostics.Process.Start(shell)!;
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"{commands[i]} exited {process.ExitCode}: {await process.StandardError.ReadToEndAsync()}");
            Assert.True(output.Contains(expected[i]), $"{commands[i]} printed {output}");
        }
    }
}
