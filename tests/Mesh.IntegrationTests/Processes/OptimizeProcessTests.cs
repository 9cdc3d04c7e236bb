using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Processes;

/// <summary>`mesh optimize` against a silo process: int8 versions are deployed with lineage only when they pass the gate.</summary>
[Trait("Category", "Process")]
public class OptimizeProcessTests : SiloProcessTest
{
    [Fact]
    public async Task An_int8_version_that_passes_the_gate_is_deployed_with_its_lineage_and_one_that_fails_is_not()
    {
        Directory.CreateDirectory(Root);
        var file = Path.Combine(Root, "mlp.onnx");
        File.Copy(TestModels.PathOf("mlp-small.onnx"), file);
        await WaitForSampleAsync();

        var passed = await Mesh("optimize", file, "--int8", "--min-top1", "1", "--min-cosine", "0.99", "--deploy", "mlp");
        Assert.True(passed.ExitCode == 0, passed.Stderr);
        Assert.Matches(@"size\s+340,453 -> \d{2},\d{3} bytes \((3\.[5-9]|[4-9]\.)\d*x smaller\)", passed.Stdout);
        Assert.Contains("top-1 agreement 100.0 %", passed.Stdout);
        Assert.Matches(@"structure   the rewritten nodes took \d+\.\d % of the fp32 run at batch 1; the rest bounds the speed-up at \d+\.\d\dx \(left in fp32: ", passed.Stdout);
        Assert.Contains("model mlp version 2 registered from version 1 (int8-dynamic-per-channel", passed.Stdout);
        Assert.True(File.Exists(Path.Combine(Root, "mlp.int8.onnx")));
        var lineage = (await Mesh("lineage", "mlp")).Stdout;
        Assert.Contains("int8-dynamic-per-channel", lineage);
        // The report is kept whole in the version's notes; the table shows its headline, not the JSON.
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(lineage, @"optimization report: \d\.\d\dx smaller, \d+\.\d\dx at batch 1, lowest cosine [01]\.\d{4}, top-1 100\.0 ?%"), lineage);
        Assert.DoesNotContain("{", lineage);
        var zeros = "input=1x64:" + string.Join(",", new float[64]);
        var predicted = await Mesh("predict", "mlp", "--version", "2", "--input", zeros);
        Assert.True(predicted.ExitCode == 0, predicted.Stderr);

        // Edge profiles: a cpu-int8 device assigned version 1 is given its int8 variant; a device without a profile, version 1.
        Assert.Equal(0, (await Mesh("devices", "register", "small-cam", "--home", "local", "--model", "mlp", "--profile", "cpu-int8")).ExitCode);
        Assert.Equal(0, (await Mesh("devices", "register", "big-cam", "--home", "local", "--model", "mlp")).ExitCode);
        var small = await Mesh("devices", "assign", "small-cam", "mlp", "1");
        Assert.True(small.ExitCode == 0, small.Stderr);
        Assert.Contains("device small-cam: mlp version 2 desired (for its profile: version 2, int8-dynamic-per-channel of version 1)", small.Stdout);
        Assert.Contains("model.mlp.version = 2", (await Mesh("device", "small-cam")).Stdout);
        Assert.Contains("device big-cam: mlp version 1 desired (sha256", (await Mesh("devices", "assign", "big-cam", "mlp", "1")).Stdout);
        Assert.Contains("model.mlp.version = 1", (await Mesh("device", "big-cam")).Stdout);

        // The model's policy holds a gate; the command line's thresholds win over it where given.
        var policy = await Mesh("policy", "mlp", "--gate-max-abs-diff", "0.0000001", "--gate-min-top1", "1");
        Assert.True(policy.ExitCode == 0, policy.Stderr);
        Assert.Contains("optimized versions must keep top-1 agreement >= 1, max abs difference <= 1E-07", policy.Stdout);
        var failed = await Mesh("optimize", file, "--int8", "--mode", "weight-only", "--deploy", "mlp");
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("the optimized model fails the quality gate; not deployed: ", failed.Stderr);
        Assert.Matches(@"max absolute difference [0-9.E-]+ is above the gate's 1E-07", failed.Stderr);
        Assert.DoesNotContain("version 3", (await Mesh("model", "mlp")).Stdout);
        // The parent is the version the file holds, not the one serving now.
        Assert.Equal(0, (await Mesh("promote", "mlp", "2")).ExitCode);
        var overridden = await Mesh("optimize", file, "--int8", "--mode", "weight-only", "--max-abs-diff", "0.01", "--min-top1", "0.9", "--deploy", "mlp");
        Assert.True(overridden.ExitCode == 0, overridden.Stderr);
        Assert.Contains("gate        passed (top-1 >= 90.0 %, max abs difference <= 0.01)", overridden.Stdout);
        Assert.Contains("model mlp version 3 registered from version 1 (int8-weight-only-per-channel", overridden.Stdout);
        var weightOnly = await Mesh("predict", "mlp", "--version", "3", "--input", zeros);
        Assert.True(weightOnly.ExitCode == 0, weightOnly.Stderr);

        var fraud = await Mesh("optimize", TestModels.PathOf("fraud.onnx"), "--int8", "-o", Path.Combine(Root, "fraud.int8.onnx"));
        Assert.Equal(1, fraud.ExitCode);
        Assert.Equal("error: cannot quantize this model: it has no MatMul or Gemm node, so there are no weights to quantize", fraud.Stderr.Trim());
        // What a tree model can take is ONNX Runtime's graph optimizations saved in the file; its decisions stay.
        var graph = await Mesh("optimize", TestModels.PathOf("fraud.onnx"), "--graph", "extended", "--validation", TestModels.PathOf("fraud-test.json"),
            "--min-top1", "1", "-o", Path.Combine(Root, "fraud.optimized.onnx"));
        Assert.True(graph.ExitCode == 0, graph.Stderr);
        Assert.Contains("outputs     over 500 rows: max abs difference 0, lowest cosine 1.00000, top-1 agreement 100.0 %", graph.Stdout);
        var stranger = await Mesh("optimize", TestModels.PathOf("fraud.onnx"), "--graph", "basic", "-o", Path.Combine(Root, "fraud.basic.onnx"), "--deploy", "mlp");
        Assert.Equal(2, stranger.ExitCode);
        Assert.Contains("fraud.onnx (sha256 ", stranger.Stderr);
        Assert.Contains("is no version of model 'mlp'; name the version it was made from with --parent N", stranger.Stderr);
        var nothing = await Mesh("optimize", TestModels.PathOf("fraud.onnx"));
        Assert.Equal(2, nothing.ExitCode);
        Assert.Contains("say what to do: --int8, --graph LEVEL, or both", nothing.Stderr);
    }
}
