using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Tensors;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.IntegrationTests.Serving;

[Collection(TwoSiloClusterCollection.Name), Trait("Category", "Integration")]
public class PredictTests(TwoSiloCluster fixture)
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    public async Task Predict_returns_same_output_as_onnxruntime_bit_for_bit(int rows)
    {
        var model = TestModels.UniqueName("mlp");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        var input = TestModels.MlpInput(rows, seed: rows);

        var response = await fixture.Mesh.PredictAsync(model, input);

        using var session = new InferenceSession(TestModels.Mlp);
        using var value = OrtValue.CreateTensorValueFromMemory(input.ToArray<float>(), [rows, 64]);
        using var expected = session.Run(new RunOptions(), [MlpModel.InputName], [value], [MlpModel.OutputName]);
        var output = response.Output(MlpModel.OutputName);
        Assert.Equal([rows, 10], output.Shape);
        Assert.Equal(expected[0].GetTensorDataAsSpan<float>().ToArray(), output.ToArray<float>());
        Assert.Equal(System.Runtime.InteropServices.MemoryMarshal.AsBytes(expected[0].GetTensorDataAsSpan<float>()).ToArray(), output.Data);
    }

    [Fact]
    public async Task Fraud_model_flags_a_fraudulent_transaction_and_passes_a_clean_one()
    {
        var model = TestModels.UniqueName("fraud");
        await fixture.Mesh.DeployAsync(model, TestModels.Fraud);

        var response = await fixture.Mesh.PredictAsync(new PredictRequest(model,
            TestModels.Transactions(
                (950f, 3f, 1500f, 6f, 1f, "electronics"),   // night, far from home, abroad, a burst of payments
                (42.5f, 13f, 3.2f, 0f, 0f, "grocery")),      // lunchtime shopping near home
            Outputs: ["PredictedLabel.output", "Probability.output"]));

        Assert.Equal([true, false], response.Output("PredictedLabel.output").ToArray<bool>());
        var probability = response.Output("Probability.output").ToArray<float>();
        Assert.True(probability[0] > 0.9f, $"fraud probability {probability[0]}");
        Assert.True(probability[1] < 0.1f, $"clean probability {probability[1]}");
    }

    [Fact]
    public async Task Every_element_type_crosses_the_mesh_unchanged()
    {
        var model = TestModels.UniqueName("echo");
        await fixture.Mesh.DeployAsync(model, EchoModel.Build());
        var inputs = EchoInputs(rows: 4);

        var response = await fixture.Mesh.PredictAsync(model, inputs);

        foreach (var input in inputs)
        {
            var output = response.Output(input.Name + "_out");
            Assert.Equal(input.ElementType, output.ElementType);
            Assert.Equal(input.Shape, output.Shape);
            Assert.Equal(input.Data, output.Data);
            Assert.Equal(input.Strings, output.Strings);
        }
    }

    [Fact]
    public async Task Predicts_are_served_by_every_silo_not_one_activation()
    {
        var model = TestModels.UniqueName("spread");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        var input = TestModels.MlpInput(1);

        var responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => fixture.Mesh.PredictAsync(model, input)));

        var silos = fixture.Cluster.Silos.Select(s => s.SiloAddress.ToString()).ToHashSet();
        Assert.Equal(silos, responses.Select(r => r.ServedBy).ToHashSet());
        // One session per silo: each silo loads the version once, however many activations serve it.
        Assert.Equal(silos.Count, responses.Count(r => r.ColdStart));
    }

    public static NamedTensor[] EchoInputs(int rows)
    {
        var n = rows * EchoModel.Width;
        return
        [
            NamedTensor.Create("f32", [rows, 3], Enumerable.Range(0, n).Select(i => i * 0.25f - 3).ToArray()),
            NamedTensor.Create("f64", [rows, 3], Enumerable.Range(0, n).Select(i => Math.E * i).ToArray()),
            NamedTensor.Create("i32", [rows, 3], Enumerable.Range(0, n).Select(i => int.MaxValue - i).ToArray()),
            NamedTensor.Create("i64", [rows, 3], Enumerable.Range(0, n).Select(i => long.MinValue + i).ToArray()),
            NamedTensor.Create("u8", [rows, 3], Enumerable.Range(0, n).Select(i => (byte)(i * 21)).ToArray()),
            NamedTensor.Create("flag", [rows, 3], Enumerable.Range(0, n).Select(i => i % 2 == 0).ToArray()),
            NamedTensor.FromStrings("text", [rows, 3], Enumerable.Range(0, n).Select(i => $"row {i / 3} · col {i % 3}").ToArray()),
        ];
    }
}
