using System.Text.Json;
using Mesh.Abstractions.Tensors;
using Mesh.Inference.Sessions;

namespace Mesh.Optimization;

/// <summary>The share of a run an operator type took, from ONNX Runtime's profiler.</summary>
public sealed record OperatorShare(string Operator, double Share);

/// <summary>
/// Where an fp32 model spends a run, from ONNX Runtime's own profiler, split into the nodes an optimization
/// rewrote and the rest. The rest is what the model's structure leaves untouched: however fast the rewritten nodes
/// become, a run cannot get faster than 1 / (share of the rest) (Amdahl).
/// </summary>
public sealed record TimeProfile(double RewrittenShare, double SpeedupBound, OperatorShare[] Untouched)
{
    /// <summary>Profiles <paramref name="runs"/> runs of the fp32 graph as written.</summary>
    public static TimeProfile Measure(byte[] onnx, NamedTensor[] input, IReadOnlyCollection<string> rewrittenNodes, int runs = 20) =>
        FromProfile(OnnxModelSession.Profile(onnx, input, runs), rewrittenNodes.ToHashSet(StringComparer.Ordinal));

    private static TimeProfile FromProfile(byte[] json, HashSet<string> rewritten)
    {
        const string kernel = "_kernel_time";
        double total = 0, inRewritten = 0;
        var untouched = new Dictionary<string, double>(StringComparer.Ordinal);
        using var document = JsonDocument.Parse(json);
        foreach (var e in document.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
            var name = e.GetProperty("name").GetString() ?? "";
            if (!name.EndsWith(kernel, StringComparison.Ordinal)) continue;
            var node = name[..^kernel.Length];
            var duration = e.GetProperty("dur").GetDouble();
            total += duration;
            if (rewritten.Contains(node)) inRewritten += duration;
            else
            {
                var op = e.TryGetProperty("args", out var args) && args.TryGetProperty("op_name", out var o) ? o.GetString() ?? "?" : "?";
                untouched[op] = untouched.GetValueOrDefault(op) + duration;
            }
        }
        if (total == 0) return new TimeProfile(0, 1, []);
        var share = inRewritten / total;
        return new TimeProfile(share, share >= 1 ? double.PositiveInfinity : 1 / (1 - share),
            untouched.OrderByDescending(p => p.Value).Take(4).Select(p => new OperatorShare(p.Key, p.Value / total)).ToArray());
    }
}
