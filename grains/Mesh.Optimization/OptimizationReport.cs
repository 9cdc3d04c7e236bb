using System.Diagnostics;
using System.Text.Json.Serialization;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;
using Mesh.Inference.Sessions;
using Mesh.Inference.Validation;

namespace Mesh.Optimization;

/// <summary>
/// An optimized model against its original on the same validation rows, measured in the same run: size, speed at
/// batch 1 and 32, and how far the outputs moved (largest absolute difference, lowest per-row cosine, and for
/// classifiers the share of rows whose decision stayed: every label output equal where the model has any, else
/// the top class of its one [rows, classes] output).
/// </summary>
public sealed record OptimizationReport(
    long OriginalBytes, long OptimizedBytes, double SizeRatio,
    double OriginalBatch1Ms, double OptimizedBatch1Ms, double Batch1Speedup,
    double OriginalBatch32RowsPerSecond, double OptimizedBatch32RowsPerSecond, double Batch32Speedup,
    int Rows, double MaxAbsoluteDifference, double MinCosine, double? Top1Agreement,
    TimeProfile? Structure, string[] Failures)
{
    [JsonIgnore] public bool Passed => Failures.Length == 0;

    /// <param name="batchOf">Inputs of a given batch size for the speed figures (default: seeded rows fitting the
    /// signature, with 1 for every other symbolic dimension; a transformer wants its sequence length here).</param>
    /// <param name="rewrittenNodes">Nodes of the original the optimization replaced: the report then says which
    /// share of the fp32 run they took, and so how far the rest of the model bounds the speed-up.</param>
    public static OptimizationReport Measure(byte[] original, byte[] optimized, NamedTensor[]? validation, QualityGate gate, TimeSpan timing,
        Func<int, NamedTensor[]>? batchOf = null, IReadOnlyCollection<string>? rewrittenNodes = null)
    {
        var settings = new OnnxSessionSettings();
        using var before = OnnxModelSession.Load("original", original, settings);
        using var after = OnnxModelSession.Load("optimized", optimized, settings);
        var rows = validation ?? Generate(before.Signature, 64);
        var rowCount = (int)rows[0].Shape[0];
        var expected = before.Run(0, rows);
        var actual = after.Run(0, rows);

        double maxDiff = 0, minCosine = 1;
        int? agree = null;
        foreach (var (want, got) in expected.Zip(actual).Where(p => p.First.ElementType == TensorElementType.Float32))
        {
            var (w, g) = (want.AsSpan<float>().ToArray(), got.AsSpan<float>().ToArray());
            var width = w.Length / rowCount;
            for (var r = 0; r < rowCount; r++)
            {
                double dot = 0, ww = 0, gg = 0;
                for (var i = r * width; i < (r + 1) * width; i++)
                {
                    maxDiff = Math.Max(maxDiff, Math.Abs(w[i] - g[i]));
                    (dot, ww, gg) = (dot + w[i] * g[i], ww + w[i] * w[i], gg + g[i] * g[i]);
                }
                minCosine = Math.Min(minCosine, ww == 0 && gg == 0 ? 1 : dot / Math.Sqrt(ww * gg));
            }
            // A classifier: its only output is [rows, classes]; its top class per row should not move.
            if (expected.Length == 1 && want.Shape.Length == 2 && agree is null)
            {
                agree = 0;
                for (var r = 0; r < rowCount; r++)
                {
                    var wr = w.AsSpan(r * width, width);
                    var gr = g.AsSpan(r * width, width);
                    if (wr.IndexOf(Max(wr)) == gr.IndexOf(Max(gr))) agree++;
                }
            }
        }
        // A model that outputs its decision (a label, a class id) keeps it or not, row by row, whatever its scores do.
        var labels = expected.Select((t, i) => (Want: t, Got: actual[i])).Where(p => p.Want.ElementType != TensorElementType.Float32).ToArray();
        if (labels.Length > 0)
        {
            agree = Enumerable.Range(0, rowCount).Count(r => labels.All(p => SameRow(p.Want, p.Got, r, rowCount)));
        }
        double? top1 = agree is int a ? a / (double)rowCount : null;

        var one = batchOf?.Invoke(1) ?? Generate(before.Signature, 1);
        var thirtyTwo = batchOf?.Invoke(32) ?? Generate(before.Signature, 32);
        var (b1Before, b1After) = (TimeMs(before, one, timing), TimeMs(after, one, timing));
        var (b32Before, b32After) = (32_000 / TimeMs(before, thirtyTwo, timing), 32_000 / TimeMs(after, thirtyTwo, timing));
        var structure = rewrittenNodes is null ? null : TimeProfile.Measure(original, one, rewrittenNodes);

        var failures = new List<string>();
        if (gate.MinCosine is { } c && minCosine < c) failures.Add($"cosine {minCosine:F4} is below the gate's {c}");
        if (gate.MinTop1Agreement is { } t && (top1 ?? 1) < t) failures.Add($"top-1 agreement {top1:P1} is below the gate's {t:P1}");
        if (gate.MaxAbsoluteDifference is { } m && maxDiff > m) failures.Add($"max absolute difference {maxDiff:G4} is above the gate's {m}");
        return new OptimizationReport(original.Length, optimized.Length, original.Length / (double)optimized.Length,
            b1Before, b1After, b1Before / b1After, b32Before, b32After, b32After / b32Before,
            rowCount, maxDiff, minCosine, top1, structure, failures.ToArray());
    }

    /// <summary>Rows that fit the signature (seeded, so two runs compare the same inputs).</summary>
    public static NamedTensor[] Generate(ModelSignature signature, int rows)
    {
        var one = ValidationInput.For(signature);
        return one.Select((t, i) =>
        {
            var shape = t.Shape.ToArray();
            shape[0] = rows;
            if (t.Strings is { } s) return NamedTensor.FromStrings(t.Name, shape, Enumerable.Repeat(s, rows).SelectMany(x => x).ToArray());
            var copy = new byte[t.Data.Length * rows];
            var random = new Random(i + 1);
            for (var r = 0; r < rows; r++)
            {
                if (t.ElementType == TensorElementType.Float32)
                {
                    var floats = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(copy.AsSpan(r * t.Data.Length, t.Data.Length));
                    for (var f = 0; f < floats.Length; f++) floats[f] = (float)(random.NextDouble() * 2 - 1);
                }
                else t.Data.CopyTo(copy, r * t.Data.Length);
            }
            return new NamedTensor(t.Name, t.ElementType, shape, copy);
        }).ToArray();
    }

    private static bool SameRow(NamedTensor want, NamedTensor got, int row, int rows)
    {
        if (want.Strings is { } ws)
        {
            var width = ws.Length / rows;
            return got.Strings is { } gs && ws.AsSpan(row * width, width).SequenceEqual(gs.AsSpan(row * width, width));
        }
        var bytes = want.Data.Length / rows;
        return got.Data.Length == want.Data.Length && want.Data.AsSpan(row * bytes, bytes).SequenceEqual(got.Data.AsSpan(row * bytes, bytes));
    }

    private static float Max(ReadOnlySpan<float> values)
    {
        var max = float.MinValue;
        foreach (var v in values) max = Math.Max(max, v);
        return max;
    }

    // Median time of one run, over a bounded time.
    private static double TimeMs(OnnxModelSession session, NamedTensor[] input, TimeSpan budget)
    {
        for (var i = 0; i < 3; i++) session.Run(0, input);
        var times = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < budget || times.Count < 5)
        {
            var one = Stopwatch.StartNew();
            session.Run(0, input);
            times.Add(one.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
