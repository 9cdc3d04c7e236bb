using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Protocol;
using Mesh.Optimization;
using Mesh.SampleModels;

namespace Mesh.Tests.Optimization;

public class WeightOnlyAndGraphTests
{
    private static string ModelFile(string name) => Path.Combine(AppContext.BaseDirectory, "models", name);

    [Fact]
    public void A_weight_only_mlp_reads_int8_weights_through_DequantizeLinear_is_at_least_3_5x_smaller_and_says_so_in_its_metadata()
    {
        var fp32 = MlpModel.Build();
        var result = Int8Quantizer.Quantize(fp32, new Int8Options(Mode: Int8Mode.WeightOnly));

        var graph = Onnx.ModelProto.Parser.ParseFrom(result.Model);
        Assert.Equal(3, graph.Graph.Node.Count(n => n.OpType == "DequantizeLinear" && n.Attribute.Any(a => a.Name == "axis")));
        Assert.DoesNotContain(graph.Graph.Node, n => n.OpType == "MatMulInteger");
        Assert.Equal(3, graph.Graph.Node.Count(n => n.OpType == "Gemm"));
        Assert.Contains(graph.MetadataProps, p => p.Key == Int8Quantizer.OptimizationMetadataKey && p.Value == "int8-weight-only-per-channel");
        Assert.True(fp32.Length / (double)result.Model.Length >= 3.5, $"{fp32.Length} -> {result.Model.Length} bytes");

        var report = OptimizationReport.Measure(fp32, result.Model, null, new QualityGate(MinCosine: 0.999), TimeSpan.FromMilliseconds(50));
        Assert.True(report.Passed, string.Join("; ", report.Failures));
    }

    [Fact]
    public void Weight_only_per_channel_needs_opset_13_and_says_what_to_use_instead()
    {
        var old = Onnx.ModelProto.Parser.ParseFrom(MlpModel.Build());
        old.OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version = 12;
        var bytes = Google.Protobuf.MessageExtensions.ToByteArray(old);

        var refused = Assert.Throws<UnsupportedGraphException>(() => Int8Quantizer.Quantize(bytes, new Int8Options(Mode: Int8Mode.WeightOnly)));
        Assert.Equal("cannot quantize this model: its opset is 12; per-channel DequantizeLinear needs 13 or later (use per-tensor scales or dynamic mode)", refused.Message);
        Assert.Equal(3, Int8Quantizer.Quantize(bytes, new Int8Options(PerChannel: false, Mode: Int8Mode.WeightOnly)).QuantizedNodes);
    }

    [Fact]
    public void The_fraud_model_is_refused_int8_but_keeps_every_decision_on_the_test_transactions_with_graph_optimizations_saved()
    {
        var fraud = File.ReadAllBytes(ModelFile("fraud.onnx"));
        Assert.Throws<UnsupportedGraphException>(() => Int8Quantizer.Quantize(fraud));

        var transactions = InferenceJson.ReadRequest("fraud", null, File.ReadAllBytes(ModelFile("fraud-test.json")), ReadOnlyMemory<byte>.Empty).Request.Inputs;
        Assert.Equal(500, transactions[0].Shape[0]);
        foreach (var level in Enum.GetValues<GraphLevel>())
        {
            var optimized = GraphOptimizer.Optimize("fraud", fraud, level);
            Assert.NotEqual(fraud, optimized);
            var report = OptimizationReport.Measure(fraud, optimized, transactions, new QualityGate(MinTop1Agreement: 1), TimeSpan.FromMilliseconds(50));
            // Its decision is the PredictedLabel output; agreement is counted on it, not on the scores.
            Assert.Equal(1.0, report.Top1Agreement);
            Assert.True(report.Passed, string.Join("; ", report.Failures));
        }
    }

    [Fact]
    public void A_file_onnx_runtime_cannot_load_is_named_when_graph_optimization_is_asked_for()
    {
        var broken = Assert.Throws<InvalidModelException>(() => GraphOptimizer.Optimize("broken.onnx", [1, 2, 3], GraphLevel.Extended));
        Assert.StartsWith("model 'broken.onnx': the file is not a model ONNX Runtime can load", broken.Message);
    }

    [Fact]
    public void The_report_says_which_share_of_the_fp32_run_the_rewritten_nodes_took_and_what_is_left()
    {
        var fp32 = MlpModel.Build();
        var result = Int8Quantizer.Quantize(fp32);
        var report = OptimizationReport.Measure(fp32, result.Model, null, new QualityGate(), TimeSpan.FromMilliseconds(50), rewrittenNodes: result.QuantizedNodeNames);

        var structure = Assert.IsType<TimeProfile>(report.Structure);
        Assert.InRange(structure.RewrittenShare, 0.05, 0.999);
        Assert.Equal(1 / (1 - structure.RewrittenShare), structure.SpeedupBound, 6);
        // What the rewrite did not touch in this MLP: its activations and the softmax.
        Assert.Equal(["Relu", "Softmax"], structure.Untouched.Select(u => u.Operator).Order().ToArray());
    }
}
