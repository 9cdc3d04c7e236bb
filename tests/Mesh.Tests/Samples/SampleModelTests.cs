using Mesh.SampleModels;

namespace Mesh.Tests.Samples;

/// <summary>The committed sample files are exactly what their code makes, so samples/README's remake steps stay true.</summary>
public class SampleModelTests
{
    private static byte[] Committed(string file) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "models", file));

    [Fact]
    public void Committed_mlp_is_what_the_builder_makes() =>
        Assert.Equal(Committed("mlp-small.onnx"), MlpModel.Build());

    [Fact]
    public void Committed_echo_model_is_what_the_builder_makes() =>
        Assert.Equal(Committed("echo.onnx"), EchoModel.Build());

    [Fact]
    public void Same_seed_same_weights_other_seed_other_weights()
    {
        Assert.Equal(MlpModel.Build(new MlpModel.Options(Seed: 3)), MlpModel.Build(new MlpModel.Options(Seed: 3)));
        Assert.NotEqual(MlpModel.Build(new MlpModel.Options(Seed: 3)), MlpModel.Build(new MlpModel.Options(Seed: 4)));
    }
}
