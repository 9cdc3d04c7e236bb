using System.CommandLine;
using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Protocol;
using Mesh.Client;
using Mesh.Optimization;

namespace Mesh.Cli;

/// <summary>
/// <c>mesh optimize FILE --int8 | --graph LEVEL</c>: writes an optimized version of a model (int8 weights, dynamic or
/// weight-only, and/or ONNX Runtime's graph optimizations saved offline), measures it against the original on
/// validation rows (size, speed at batch 1 and 32, output drift, top-1 agreement, where the fp32 time goes), holds it
/// to a quality gate (command line over the model's policy), and with <c>--deploy NAME</c> registers it as a new
/// version whose lineage names the parent and the optimization.
/// </summary>
internal static class OptimizeCommand
{
    public static Command Build(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The fp32 ONNX model" };
        var int8 = new Option<bool>("--int8") { Description = "Quantize MatMul/Gemm weights and large Gather tables to int8" };
        var mode = new Option<string>("--mode") { Description = "With --int8: dynamic (int8 arithmetic: smaller and faster) or weight-only (int8 on disk, fp32 arithmetic: smaller, fp32 speed)", DefaultValueFactory = _ => "dynamic" };
        mode.AcceptOnlyFromAmong("dynamic", "weight-only");
        var perChannel = new Option<bool>("--per-channel") { Description = "One scale per output channel (the default)" };
        var perTensor = new Option<bool>("--per-tensor") { Description = "One scale per weight tensor instead of one per output channel (less exact)" };
        var exclude = new Option<string[]>("--exclude") { Description = "Node names to keep in fp32 (repeatable)", AllowMultipleArgumentsPerToken = true };
        var graph = new Option<string?>("--graph") { Description = "Save ONNX Runtime's graph optimizations in the file: basic, extended (ONNX Runtime's fused operators) or all (also memory layouts for this machine's CPU)" };
        graph.AcceptOnlyFromAmong("basic", "extended", "all");
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Where to write the result (default: FILE with .int8.onnx or .optimized.onnx)" };
        var validation = new Option<FileInfo?>("--validation") { Description = "Validation rows: an infer request (Open Inference Protocol JSON); default 64 seeded rows fitting the signature" };
        var minCosine = new Option<double?>("--min-cosine") { Description = "Gate: lowest per-row cosine similarity allowed (e.g. 0.99)" };
        var minTop1 = new Option<double?>("--min-top1") { Description = "Gate: lowest share of rows whose top class stays (e.g. 1 for all)" };
        var maxDiff = new Option<double?>("--max-abs-diff") { Description = "Gate: largest absolute output difference allowed" };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var deploy = new Option<string?>("--deploy") { Description = "Register the result as a new version of this model if it passes the gate (the model's policy gate, `mesh policy --gate-*`, applies where the command line gives none)" };
        var parent = new Option<int?>("--parent") { Description = "With --deploy: the version the file is (default: the version whose bytes FILE holds)" };
        var command = new Command("optimize", "Write an optimized version of a model (int8, graph optimizations), report what it costs in accuracy and gains in size and speed, optionally deploy it")
        {
            file, int8, mode, perChannel, perTensor, exclude, graph, output, validation, minCosine, minTop1, maxDiff, json, deploy, parent,
        };
        command.Validators.Add(result =>
        {
            if (!result.GetValue(int8) && result.GetValue(graph) is null)
                result.AddError("say what to do: --int8, --graph LEVEL, or both");
            if (result.GetValue(perChannel) && result.GetValue(perTensor))
                result.AddError("--per-channel and --per-tensor exclude each other");
        });
        command.SetAction(async (parse, _) =>
        {
            var source = parse.GetValue(file)!;
            if (!source.Exists) return Fail(ExitCodes.Usage, $"no file at {source.FullName}");
            var commandGate = new QualityGate(parse.GetValue(minCosine), parse.GetValue(minTop1), parse.GetValue(maxDiff));
            if (parse.GetValue(deploy) is not { } name) return await Optimize(parse, source, commandGate, null);
            return await run(parse, async mesh =>
            {
                var model = await mesh.GetModelAsync(name);
                // The parent is the version the file came from, found by its bytes, not whatever serves today.
                var sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(source.FullName)));
                var parentVersion = parse.GetValue(parent) ?? model.Versions.FirstOrDefault(v => v.ArtifactSha256 == sha256)?.Version;
                if (parentVersion is not int from)
                    return Fail(ExitCodes.Usage, $"{source.Name} (sha256 {sha256[..12]}) is no version of model '{name}'; name the version it was made from with --parent N");
                if (model.FindVersion(from) is null)
                    return Fail(ExitCodes.Usage, $"--parent: model '{name}' has no version {from}");
                var gate = (model.ServingPolicy.OptimizationGate ?? new QualityGate()).With(commandGate);
                return await Optimize(parse, source, gate, bytes => DeployAsync(mesh, model, from, bytes));
            });
        });
        return command;

        async Task<int> Optimize(ParseResult parse, FileInfo source, QualityGate gate, Func<(byte[] Model, string Optimization, string Report), Task<int>>? publish)
        {
            var original = await File.ReadAllBytesAsync(source.FullName);
            var level = parse.GetValue(graph) is { } g ? Enum.Parse<GraphLevel>(g, ignoreCase: true) : (GraphLevel?)null;
            var options = new Int8Options(!parse.GetValue(perTensor), parse.GetValue(exclude),
                parse.GetValue(mode) == "weight-only" ? Int8Mode.WeightOnly : Int8Mode.Dynamic);
            var target = parse.GetValue(output)?.FullName ?? Path.ChangeExtension(source.FullName, parse.GetValue(int8) ? ".int8.onnx" : ".optimized.onnx");
            Int8Result? quantized = null;
            byte[] result;
            OptimizationReport report;
            try
            {
                if (parse.GetValue(int8)) quantized = Int8Quantizer.Quantize(original, options);
                result = quantized?.Model ?? original;
                if (level is { } l) result = GraphOptimizer.Optimize(source.Name, result, l);
                var rows = parse.GetValue(validation) is { } rowsFile
                    ? InferenceJson.ReadRequest("validation", null, await File.ReadAllBytesAsync(rowsFile.FullName), ReadOnlyMemory<byte>.Empty).Request.Inputs
                    : null;
                report = OptimizationReport.Measure(original, result, rows, gate, TimeSpan.FromSeconds(1), rewrittenNodes: quantized?.QuantizedNodeNames);
            }
            catch (MeshException e)
            {
                return Fail(ExitCodes.Rejected, e.Message);
            }
            await File.WriteAllBytesAsync(target, result);
            var optimization = string.Join("+", new[] { quantized is null ? null : options.Name, level is { } lv ? GraphOptimizer.Name(lv) : null }.OfType<string>());
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(report, ReportJson));
            else Print(report, quantized, target, optimization, gate);
            if (!report.Passed)
                return Fail(ExitCodes.Rejected, "the optimized model fails the quality gate" + (publish is null ? "" : "; not deployed") + ": " + string.Join("; ", report.Failures));
            return publish is null ? ExitCodes.Ok : await publish((result, optimization, JsonSerializer.Serialize(report, ReportJson)));
        }
    }

    private static async Task<int> DeployAsync(MeshClient mesh, ModelInfo model, int parentVersion, (byte[] Model, string Optimization, string Report) optimized)
    {
        var version = await mesh.DeployAsync(model.Name, optimized.Model, makeDefault: false, new ModelLineage(parentVersion, null, optimized.Optimization, optimized.Report));
        Console.WriteLine($"model {model.Name} version {version.Version} registered from version {parentVersion} ({optimized.Optimization}; not the default: promote or split traffic to serve it)");
        return ExitCodes.Ok;
    }

    private static readonly JsonSerializerOptions ReportJson = new(JsonSerializerDefaults.Web);

    private static void Print(OptimizationReport r, Int8Result? int8, string target, string optimization, QualityGate gate)
    {
        Console.WriteLine($"{optimization}: written to {target}");
        if (int8 is not null)
        {
            Console.WriteLine($"int8        {int8.QuantizedNodes} nodes, {int8.WeightsQuantized:N0} weights");
            foreach (var skipped in int8.Skipped) Console.WriteLine($"  left in fp32: {skipped}");
        }
        Console.WriteLine($"size        {r.OriginalBytes:N0} -> {r.OptimizedBytes:N0} bytes ({(r.SizeRatio >= 1 ? $"{r.SizeRatio:F2}x smaller" : $"{1 / r.SizeRatio:F2}x larger")})");
        Console.WriteLine($"batch 1     {r.OriginalBatch1Ms:F3} -> {r.OptimizedBatch1Ms:F3} ms ({r.Batch1Speedup:F2}x)");
        Console.WriteLine($"batch 32    {r.OriginalBatch32RowsPerSecond:F0} -> {r.OptimizedBatch32RowsPerSecond:F0} rows/s ({r.Batch32Speedup:F2}x)");
        if (r.Structure is { } s)
            Console.WriteLine($"structure   the rewritten nodes took {s.RewrittenShare:P1} of the fp32 run at batch 1; the rest bounds the speed-up at {s.SpeedupBound:F2}x"
                              + (s.Untouched.Length == 0 ? "" : " (left in fp32: " + string.Join(", ", s.Untouched.Select(u => $"{u.Operator} {u.Share:P1}")) + ")"));
        Console.WriteLine($"outputs     over {r.Rows} rows: max abs difference {r.MaxAbsoluteDifference:G4}, lowest cosine {r.MinCosine:F5}" +
                          (r.Top1Agreement is { } t ? $", top-1 agreement {t:P1}" : ""));
        var thresholds = gate.IsEmpty ? "no thresholds" : string.Join(", ", new[]
        {
            gate.MinCosine is { } c ? $"cosine >= {c}" : null,
            gate.MinTop1Agreement is { } t1 ? $"top-1 >= {t1:P1}" : null,
            gate.MaxAbsoluteDifference is { } m ? $"max abs difference <= {m}" : null,
        }.OfType<string>());
        Console.WriteLine(r.Passed ? $"gate        passed ({thresholds})" : "gate        FAILED: " + string.Join("; ", r.Failures));
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine("error: " + message);
        return code;
    }
}
