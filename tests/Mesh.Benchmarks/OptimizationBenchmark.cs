using System.Text;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;
using Mesh.Optimization;
using Mesh.SampleModels;

namespace Mesh.Benchmarks;

/// <summary>
/// Int8 against fp32, measured by the same report `mesh optimize` prints (both models in this process, one thread,
/// timed in the same run): the small MLP and all-MiniLM-L6-v2 at sequence length 128, dynamic and weight-only, with
/// the share of the fp32 run the rewritten nodes took (ONNX Runtime's profiler), which bounds the speed-up.
/// </summary>
public static class OptimizationBenchmark
{
    public static string Run(byte[] miniLm, TimeSpan timing)
    {
        var report = new StringBuilder();
        report.AppendLine("## Int8 optimization (`mesh optimize --int8`, per-channel; embedding tables per row)");
        report.AppendLine();
        report.AppendLine("| model | mode | size | batch 1 | batch 32 | outputs | fp32 time in rewritten nodes (bound) |");
        report.AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
        var mlp = MlpModel.Build();
        foreach (var mode in new[] { Int8Mode.Dynamic, Int8Mode.WeightOnly })
        {
            var q = Int8Quantizer.Quantize(mlp, new Int8Options(Mode: mode));
            Row(report, "MLP 64-256-256-10", mode, OptimizationReport.Measure(mlp, q.Model, null, new QualityGate(), timing, rewrittenNodes: q.QuantizedNodeNames));
        }
        NamedTensor[] Tokens(int batch)
        {
            var ids = Enumerable.Range(0, batch * 128).Select(i => i % 128 == 0 ? 101L : 1000L + (i * 7919) % 20000).ToArray();
            long[] shape = [batch, 128];
            return [NamedTensor.Create("input_ids", shape, ids), NamedTensor.Create("attention_mask", shape, Enumerable.Repeat(1L, ids.Length).ToArray()),
                    NamedTensor.Create("token_type_ids", shape, new long[ids.Length])];
        }
        foreach (var mode in new[] { Int8Mode.Dynamic, Int8Mode.WeightOnly })
        {
            var q = Int8Quantizer.Quantize(miniLm, new Int8Options(Mode: mode));
            Row(report, "all-MiniLM-L6-v2, sequence 128", mode, OptimizationReport.Measure(miniLm, q.Model, Tokens(8), new QualityGate(), timing, Tokens, q.QuantizedNodeNames));
        }
        report.AppendLine();
        report.AppendLine("Speed is ONNX Runtime's with one intra-op thread. The last column is where the model's structure limits int8: the");
        report.AppendLine("share of the fp32 run (batch 1, graph as written) spent in the nodes the rewrite replaced, and the speed-up a run");
        report.AppendLine("could reach if they took no time at all; the operators named are the largest parts left in fp32. The MLP is too");
        report.AppendLine("small for int8 to pay at batch 1 (a run is a few microseconds, mostly fixed cost). Weight-only keeps fp32");
        report.AppendLine("arithmetic (Mesh sessions fold the weights back at load), so it buys size, not speed.");
        report.AppendLine();
        Console.WriteLine(report);
        return report.ToString();
    }

    private static void Row(StringBuilder report, string model, Int8Mode mode, OptimizationReport r)
    {
        var top1 = r.Top1Agreement is { } t ? FormattableString.Invariant($", top-1 {t:P0}") : "";
        var structure = r.Structure is { } s
            ? FormattableString.Invariant($"{s.RewrittenShare:P0} ({s.SpeedupBound:F1}x); fp32 left: ") + string.Join(", ", s.Untouched.Take(3).Select(u => FormattableString.Invariant($"{u.Operator} {u.Share:P0}")))
            : "";
        report.AppendLine(FormattableString.Invariant(
            $"| {model} | {(mode == Int8Mode.Dynamic ? "dynamic" : "weight-only")} | {r.OriginalBytes / 1048576.0:F1} -> {r.OptimizedBytes / 1048576.0:F1} MiB ({r.SizeRatio:F2}x smaller) | {r.OriginalBatch1Ms:F3} -> {r.OptimizedBatch1Ms:F3} ms (**{r.Batch1Speedup:F2}x**) | {r.OriginalBatch32RowsPerSecond:F0} -> {r.OptimizedBatch32RowsPerSecond:F0} rows/s ({r.Batch32Speedup:F2}x) | lowest cosine {r.MinCosine:F4}, max diff {r.MaxAbsoluteDifference:G3}{top1} | {structure} |"));
    }
}
