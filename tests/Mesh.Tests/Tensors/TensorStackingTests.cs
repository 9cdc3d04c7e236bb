using Mesh.Abstractions.Tensors;

namespace Mesh.Tests.Tensors;

/// <summary>The one rule for what may stack (client coalescer and silo batcher), and stacking and cutting back.</summary>
public class TensorStackingTests
{
    private static NamedTensor F(string name, long rows, long width) => NamedTensor.Create(name, [rows, width], new float[rows * width]);

    [Fact]
    public void Inputs_that_differ_only_in_rows_and_order_share_a_key()
    {
        var key = TensorStacking.StackKey([F("a", 1, 4), F("b", 1, 2)]);
        Assert.NotNull(key);
        Assert.Equal(key, TensorStacking.StackKey([F("b", 3, 2), F("a", 3, 4)]));
    }

    [Fact]
    public void Other_trailing_dimensions_types_names_or_outputs_do_not_stack()
    {
        var key = TensorStacking.StackKey([F("a", 1, 4)], ["y"]);
        Assert.NotEqual(key, TensorStacking.StackKey([F("a", 1, 5)], ["y"]));
        Assert.NotEqual(key, TensorStacking.StackKey([NamedTensor.Create("a", [1, 4], new double[4])], ["y"]));
        Assert.NotEqual(key, TensorStacking.StackKey([F("c", 1, 4)], ["y"]));
        Assert.NotEqual(key, TensorStacking.StackKey([F("a", 1, 4)], ["z"]));
        Assert.NotEqual(key, TensorStacking.StackKey([F("a", 1, 4)]));
    }

    [Fact]
    public void Inputs_that_disagree_on_rows_or_hold_a_scalar_cannot_stack_at_all()
    {
        Assert.Null(TensorStacking.StackKey([F("a", 1, 4), F("b", 2, 4)]));
        Assert.Null(TensorStacking.StackKey([NamedTensor.Create("s", [], new float[1])]));
        Assert.Null(TensorStacking.StackKey([]));
    }

    [Fact]
    public void Stacked_rows_cut_back_into_each_request_exactly()
    {
        var one = NamedTensor.Create("x", [1, 2], new[] { 1f, 2f });
        var two = NamedTensor.Create("x", [2, 2], new[] { 3f, 4f, 5f, 6f });
        var stacked = TensorStacking.Stack([[one], [two]]);
        Assert.Equal([3L, 2], stacked[0].Shape);
        var parts = TensorStacking.Split(stacked, [1, 2], out var bad)!;
        Assert.Null(bad);
        Assert.Equal([1f, 2f], parts[0][0].AsSpan<float>().ToArray());
        Assert.Equal([3f, 4f, 5f, 6f], parts[1][0].AsSpan<float>().ToArray());
    }
}
