using Mesh.Abstractions.Tensors;
using Mesh.SampleModels;

namespace Mesh.IntegrationTests.Infrastructure;

public static class TestModels
{
    public static string PathOf(string file) => Path.Combine(AppContext.BaseDirectory, "models", file);
    public static byte[] Fraud => File.ReadAllBytes(PathOf("fraud.onnx"));
    public static byte[] Mlp => File.ReadAllBytes(PathOf("mlp-small.onnx"));

    public static NamedTensor MlpInput(int rows, int seed = 7) =>
        NamedTensor.Create(MlpModel.InputName, [rows, 64], MlpModel.SampleInput(rows, seed: seed));

    /// <summary>Rows of transactions for the fraud model, as its six [rows,1] inputs.</summary>
    public static NamedTensor[] Transactions(params (float Amount, float Hour, float DistanceKm, float RecentCount, float Foreign, string Category)[] rows)
    {
        long[] shape = [rows.Length, 1];
        return
        [
            NamedTensor.Create("Amount", shape, rows.Select(r => r.Amount).ToArray()),
            NamedTensor.Create("Hour", shape, rows.Select(r => r.Hour).ToArray()),
            NamedTensor.Create("DistanceKm", shape, rows.Select(r => r.DistanceKm).ToArray()),
            NamedTensor.Create("RecentCount", shape, rows.Select(r => r.RecentCount).ToArray()),
            NamedTensor.Create("Foreign", shape, rows.Select(r => r.Foreign).ToArray()),
            NamedTensor.FromStrings("Category", shape, rows.Select(r => r.Category).ToArray()),
        ];
    }

    /// <summary>A model name no other test uses.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];
}
