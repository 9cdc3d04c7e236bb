using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Tensors;
using Mesh.Grains.Storage;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;

namespace Mesh.IntegrationTests.Registry;

[Collection(TwoSiloClusterCollection.Name), Trait("Category", "Integration")]
public class ModelRegistryTests(TwoSiloCluster fixture)
{
    [Fact]
    public async Task Deploy_assigns_the_next_version_and_stores_the_bytes_by_sha256()
    {
        var model = TestModels.UniqueName("versions");
        var small = MlpModel.Build(new MlpModel.Options(Hidden: 16));
        var wide = MlpModel.Build(new MlpModel.Options(Hidden: 32));

        var v1 = await fixture.Mesh.DeployAsync(model, small);
        var v2 = await fixture.Mesh.DeployAsync(model, wide);

        Assert.Equal((1, 2), (v1.Version, v2.Version));
        Assert.Equal(ArtifactHash.Of(wide), v2.ArtifactSha256);
        var stored = Path.Combine(fixture.DataDirectory, "artifacts", "sha256", v2.ArtifactSha256[..2], v2.ArtifactSha256 + ".onnx");
        Assert.Equal(wide, await File.ReadAllBytesAsync(stored));
    }

    [Fact]
    public async Task Same_bytes_deployed_again_return_the_version_that_holds_them()
    {
        var model = TestModels.UniqueName("idempotent");
        var first = await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        var again = await fixture.Mesh.DeployAsync(model, TestModels.Mlp);

        Assert.Equal(first.Version, again.Version);
        Assert.Single((await fixture.Mesh.GetModelAsync(model)).Versions);
    }

    [Fact]
    public async Task A_version_keeps_its_signature_with_symbolic_dimensions()
    {
        var model = TestModels.UniqueName("signature");
        await fixture.Mesh.DeployAsync(model, TestModels.Fraud);

        var version = await fixture.Mesh.GetVersionAsync(model, 1);

        Assert.Equal(["Amount", "Hour", "DistanceKm", "RecentCount", "Foreign", "Category"], version.Signature.Inputs.Select(i => i.Name));
        var category = version.Signature.FindInput("Category")!;
        Assert.Equal(TensorElementType.String, category.ElementType);
        Assert.Equal([-1, 1], category.Shape);
        Assert.Contains(version.Signature.Outputs, o => o.Name == "PredictedLabel.output" && o.ElementType == TensorElementType.Bool);
    }

    [Fact]
    public async Task List_models_shows_each_model_with_its_versions()
    {
        var a = TestModels.UniqueName("list-a");
        var b = TestModels.UniqueName("list-b");
        await fixture.Mesh.DeployAsync(a, TestModels.Mlp);
        await fixture.Mesh.DeployAsync(b, TestModels.Fraud);
        await fixture.Mesh.DeployAsync(b, EchoModel.Build(), makeDefault: false);

        var models = (await fixture.Mesh.ListModelsAsync()).ToDictionary(m => m.Name);

        Assert.Equal([1], models[a].Versions.Select(v => v.Version));
        Assert.Equal([1, 2], models[b].Versions.Select(v => v.Version));
        Assert.Equal(1, models[b].DefaultVersion);
    }

    [Fact]
    public async Task Setting_the_default_version_changes_which_version_answers()
    {
        var model = TestModels.UniqueName("default");
        await fixture.Mesh.DeployAsync(model, MlpModel.Build(new MlpModel.Options(Classes: 10)));
        await fixture.Mesh.DeployAsync(model, MlpModel.Build(new MlpModel.Options(Classes: 3)), makeDefault: false);
        var input = TestModels.MlpInput(1);
        Assert.Equal(1, (await fixture.Mesh.PredictAsync(model, input)).Version);

        var info = await fixture.Mesh.PromoteAsync(model, 2);
        Assert.Equal(2, info.DefaultVersion);

        // Every silo's routing table takes the new default within its cache time (1 s by default).
        var deadline = DateTime.UtcNow.AddSeconds(10);
        PredictResponse response;
        do
        {
            response = await fixture.Mesh.PredictAsync(model, input);
        } while (response.Version != 2 && DateTime.UtcNow < deadline && await Task.Delay(100).ContinueWith(_ => true));
        Assert.Equal(2, response.Version);
        Assert.Equal([1, 3], response.Output(MlpModel.OutputName).Shape);
        Assert.Equal(1, (await fixture.Mesh.PredictAsync(new PredictRequest(model, [input], Version: 1))).Version);
    }

    [Fact]
    public async Task Unknown_model_and_version_are_typed_errors()
    {
        await Assert.ThrowsAsync<ModelNotFoundException>(() => fixture.Mesh.GetModelAsync("never-deployed"));
        var model = TestModels.UniqueName("known");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        await Assert.ThrowsAsync<ModelVersionNotFoundException>(() => fixture.Mesh.GetVersionAsync(model, 5));
        await Assert.ThrowsAsync<ModelVersionNotFoundException>(() => fixture.Mesh.PromoteAsync(model, 5));
    }

    [Fact]
    public async Task A_damaged_artifact_is_reported_with_its_model_and_the_silo_keeps_serving()
    {
        var model = TestModels.UniqueName("damaged");
        // Bytes no other test deploys: the artifact file is this test's alone to damage.
        var onnx = MlpModel.Build(new MlpModel.Options(Hidden: 8, Seed: Random.Shared.Next()));
        var version = await fixture.Mesh.DeployAsync(model, onnx);
        var path = Path.Combine(fixture.DataDirectory, "artifacts", "sha256", version.ArtifactSha256[..2], version.ArtifactSha256 + ".onnx");
        var damaged = await File.ReadAllBytesAsync(path);
        damaged[^1] ^= 0xFF;
        await File.WriteAllBytesAsync(path, damaged);

        var e = await Assert.ThrowsAsync<ModelArtifactUnavailableException>(() => fixture.Mesh.PredictAsync(model, TestModels.MlpInput(1)));
        Assert.StartsWith($"model '{model}' version 1: its artifact cannot be loaded: artifact {version.ArtifactSha256}: the file at", e.Message);
        Assert.Contains("is damaged", e.Message);

        var other = TestModels.UniqueName("healthy");
        await fixture.Mesh.DeployAsync(other, TestModels.Mlp);
        var healthy = await fixture.Mesh.PredictAsync(other, TestModels.MlpInput(1));
        Assert.Equal([1, 10], healthy.Output(MlpModel.OutputName).Shape);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("../escape")]
    public async Task Model_names_outside_the_rule_are_rejected(string name)
    {
        var e = await Assert.ThrowsAsync<InvalidModelNameException>(() => fixture.Mesh.DeployAsync(name, TestModels.Mlp));
        Assert.Contains("A-Z, a-z, 0-9", e.Message);
    }
}
