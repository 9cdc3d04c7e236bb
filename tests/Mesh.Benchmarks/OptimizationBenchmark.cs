using System.Text;
using Mesh.Abstractions.Tensors;
using Mesh.Optimization;
using Mesh.SampleModels;

namespace Mesh.Benchmarks;

/// <summary>
/// Int8 against fp32, measured by the same report `mesh optimize` prints (both models in this process, one thread,
/// timed in the same run): the small MLP and all-MiniLM-L6-v2 at sequence length 128.
/// </summary>
public static class OptimizationBenchmark
{
    public static string Run(byte[] miniLm, TimeSpan timing)
    {
        var report = new StringBuilder();
        report.AppendLine("## Int8 optimization (`mesh optimize --int8`: dynamic, per-channel; embedding tables per row)");
        report.AppendLine();
        report.AppendLine("| model | size | batch 1 | batch 32 | outputs |");
        report.AppendLine("| --- | --- | --- | --- | --- |");
        var mlp = MlpModel.Build();
        Row(report, "MLP 64-256-256-10", OptimizationReport.Measure(mlp, Int8Quantizer.QuantizeDynamic(mlp).Model, null, new QualityGate(), timing));
        NamedTensor[] Tokens(int batch)
        {
            var ids = Enumerable.Range(0, batch * 128).Select(i => i % 128 == 0 ? 101L : 1000L + (i * 7919) % 20000).ToArray();
            long[] shape = [batch, 128];
            return [NamedTensor.Create("input_ids", shape, ids), NamedTensor.Create("attention_mask", shape, Enumerable.Repeat(1L, ids.Length).ToArray()),
                    NamedTensor.Create("token_type_ids", shape, new long[ids.Length])];
        }
        Row(report, "all-MiniLM-L6-v2, sequence 128", OptimizationReport.Measure(miniLm, Int8Quantizer.QuantizeDynamic(miniLm).Model, Tokens(8), new QualityGate(), timing, Tokens));
        report.AppendLine();
        report.AppendLine("Speed is ONNX Runtime's with one intra-op thread. The MLP is too small for int8 to pay at batch 1 (a run is a few");
        report.AppendLine("microseconds, mostly fixed cost); MiniLM's MatMuls dominate its time, but its attention (activation x activation");
        report.AppendLine("MatMuls, softmax, layer norms) stays fp32, which bounds the gain.");
        report.AppendLine();
        Console.WriteLine(report);
        return report.ToString();
    }

    private static void Row(StringBuilder report, string model, OptimizationReport r)
    {
        var top1 = r.Top1Agreement is { } t ? FormattableString.Invariant($", top-1 {t:P0}") : "";
        report.AppendLine(FormattableString.Invariant(
            $"| {model} | {r.OriginalBytes / 1048576.0:F1} -> {r.OptimizedBytes / 1048576.0:F1} MiB ({r.SizeRatio:F2}x smaller) | {r.OriginalBatch1Ms:F3} -> {r.OptimizedBatch1Ms:F3} ms (**{r.Batch1Speedup:F2}x**) | {r.OriginalBatch32RowsPerSecond:F0} -> {r.OptimizedBatch32RowsPerSecond:F0} rows/s ({r.Batch32Speedup:F2}x) | lowest cosine {r.MinCosine:F4}, max diff {r.MaxAbsoluteDifference:G3}{top1} |"));
    }
}
