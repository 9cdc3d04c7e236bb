using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;
using Mesh.Cli;

namespace Mesh.Tests.Cli;

public class PredictInputParsingTests
{
    private static readonly ModelSignature Signature = new(
        [
            new TensorSpec("x", TensorElementType.Float32, [-1, 3], ["batch", null]),
            new TensorSpec("ids", TensorElementType.Int64, [-1], ["batch"]),
            new TensorSpec("tag", TensorElementType.String, [-1, 1], ["batch", null]),
        ], []);

    [Fact]
    public void Takes_the_element_type_from_the_signature()
    {
        var x = MeshCommands.ParseInput("x=2x3:1,2,3,4,5,6.5", Signature);
        Assert.Equal(TensorElementType.Float32, x.ElementType);
        Assert.Equal([2, 3], x.Shape);
        Assert.Equal(new[] { 1f, 2, 3, 4, 5, 6.5f }, x.ToArray<float>());

        var ids = MeshCommands.ParseInput("ids=2:7,-9", Signature);
        Assert.Equal(new long[] { 7, -9 }, ids.ToArray<long>());

        var tag = MeshCommands.ParseInput("tag=1x1:electronics", Signature);
        Assert.Equal(["electronics"], tag.Strings!);
    }

    [Theory]
    [InlineData("x", "expected name=shape:values")]
    [InlineData("x=2y3:1", "must be dimensions separated by 'x'")]
    public void Malformed_argument_is_a_usage_error(string text, string message)
    {
        var e = Assert.Throws<CommandLineInputException>(() => MeshCommands.ParseInput(text, Signature));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Wrong_value_count_names_the_input()
    {
        var e = Assert.Throws<InvalidTensorValueException>(() => MeshCommands.ParseInput("x=1x3:1,2", Signature));
        Assert.Contains("input 'x'", e.Message);
    }

    [Fact]
    public void Help_lists_every_command()
    {
        var writer = new StringWriter();
        var result = MeshCommands.Build().Parse(["--help"]);
        result.InvocationConfiguration.Output = writer;
        Assert.Equal(0, result.Invoke());
        foreach (var command in new[] { "deploy", "models", "model", "default", "predict", "--gateway" })
            Assert.Contains(command, writer.ToString());
    }
}
