using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Tensors;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;

namespace Mesh.IntegrationTests.Serving;

/// <summary>Each bad request gets its own typed error through the SDK, and the next valid predict succeeds.</summary>
[Collection(TwoSiloClusterCollection.Name), Trait("Category", "Integration")]
public class BadInputTests(TwoSiloCluster fixture) : IAsyncLifetime
{
    private readonly string _model = TestModels.UniqueName("guarded");

    public async Task InitializeAsync() => await fixture.Mesh.DeployAsync(_model, TestModels.Mlp);
    public Task DisposeAsync() => Task.CompletedTask;

    private async Task<T> RejectedThenServed<T>(PredictRequest bad) where T : MeshException
    {
        var error = await Assert.ThrowsAsync<T>(() => fixture.Mesh.PredictAsync(bad));
        var good = await fixture.Mesh.PredictAsync(_model, TestModels.MlpInput(2));
        Assert.Equal([2, 10], good.Output(MlpModel.OutputName).Shape);
        return error;
    }

    [Fact]
    public async Task Unknown_model()
    {
        var e = await RejectedThenServed<ModelNotFoundException>(new PredictRequest("no-such-model", [TestModels.MlpInput(1)]));
        Assert.Equal("model 'no-such-model' is not deployed", e.Message);
    }

    [Fact]
    public async Task Unknown_version()
    {
        var e = await RejectedThenServed<ModelVersionNotFoundException>(new PredictRequest(_model, [TestModels.MlpInput(1)], Version: 9));
        Assert.Equal($"model '{_model}' has no version 9 (versions: 1)", e.Message);
    }

    [Fact]
    public async Task Unknown_input_name()
    {
        var e = await RejectedThenServed<UnknownInputException>(new PredictRequest(_model, [TestModels.MlpInput(1), NamedTensor.Create("extra", [1], new float[1])]));
        Assert.Equal("extra", e.Input);
        Assert.Contains("(inputs: input)", e.Message);
    }

    [Fact]
    public async Task Missing_input()
    {
        var e = await RejectedThenServed<MissingInputException>(new PredictRequest(_model, []));
        Assert.Equal($"input 'input': required by model '{_model}' but not given", e.Message);
    }

    [Fact]
    public async Task Wrong_element_type()
    {
        var e = await RejectedThenServed<InputElementTypeException>(new PredictRequest(_model, [NamedTensor.Create("input", [1, 64], new double[64])]));
        Assert.Equal((TensorElementType.Float32, TensorElementType.Float64), (e.Expected, e.Actual));
        Assert.Equal("input 'input': expected element type float32, got float64", e.Message);
    }

    [Fact]
    public async Task Wrong_rank()
    {
        var e = await RejectedThenServed<InputRankException>(new PredictRequest(_model, [NamedTensor.Create("input", [64], new float[64])]));
        Assert.Equal((2, 1), (e.ExpectedRank, e.ActualRank));
    }

    [Fact]
    public async Task Fixed_dimension_that_differs()
    {
        var e = await RejectedThenServed<InputDimensionException>(new PredictRequest(_model, [NamedTensor.Create("input", [1, 63], new float[63])]));
        Assert.Equal((1, 64L, 63L), (e.Dimension, e.Expected, e.Actual));
        Assert.Contains("input 'input': dimension 1 must be 64, got 63", e.Message);
    }

    [Fact]
    public async Task Byte_length_that_does_not_match_shape_and_type()
    {
        var e = await RejectedThenServed<InputByteLengthException>(new PredictRequest(_model, [new NamedTensor("input", TensorElementType.Float32, [2, 64], new byte[2 * 64 * 4 - 1])]));
        Assert.Equal((512L, 511L), (e.ExpectedBytes, e.ActualBytes));
    }

    [Fact]
    public async Task Unknown_output_name()
    {
        var e = await RejectedThenServed<UnknownOutputException>(new PredictRequest(_model, [TestModels.MlpInput(1)], Outputs: ["logits"]));
        Assert.Equal("logits", e.Output);
    }

    [Fact]
    public async Task Corrupt_onnx_file_is_rejected_and_nothing_is_stored()
    {
        var name = TestModels.UniqueName("corrupt");
        var artifacts = Path.Combine(fixture.DataDirectory, "artifacts");
        var before = Directory.Exists(artifacts) ? Directory.GetFiles(artifacts, "*", SearchOption.AllDirectories).Length : 0;
        var corrupt = TestModels.Mlp[..5000];

        var e = await Assert.ThrowsAsync<InvalidModelException>(() => fixture.Mesh.DeployAsync(name, corrupt));

        Assert.StartsWith($"model '{name}': the file is not a model ONNX Runtime can load: ", e.Message);
        await Assert.ThrowsAsync<ModelNotFoundException>(() => fixture.Mesh.GetModelAsync(name));
        Assert.DoesNotContain(name, (await fixture.Mesh.ListModelsAsync()).Select(m => m.Name));
        Assert.Equal(before, Directory.Exists(artifacts) ? Directory.GetFiles(artifacts, "*", SearchOption.AllDirectories).Length : 0);
        await fixture.Mesh.PredictAsync(_model, TestModels.MlpInput(1));
    }
}
