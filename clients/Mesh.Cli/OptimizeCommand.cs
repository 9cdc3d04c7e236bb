using System.CommandLine;
using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Protocol;
using Mesh.Client;
using Mesh.Optimization;

namespace Mesh.Cli;

/// <summary>
/// <c>mesh optimize FILE --int8</c>: writes an int8 version of a model, measures it against the original on
/// validation rows (size, speed at batch 1 and 32, output drift, top-1 agreement), holds it to a quality gate,
/// and with <c>--deploy NAME</c> registers it as a new version whose lineage names the parent and the optimization.
/// </summary>
internal static class OptimizeCommand
{
    public static Command Build(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The fp32 ONNX model" };
        var int8 = new Option<bool>("--int8") { Description = "Dynamic int8 quantization of MatMul/Gemm weights (the only optimization so far)", Required = true };
        var perTensor = new Option<bool>("--per-tensor") { Description = "One scale per weight tensor instead of one per output channel (smaller, less exact)" };
        var exclude = new Option<string[]>("--exclude") { Description = "Node names to keep in fp32 (repeatable)", AllowMultipleArgumentsPerToken = true };
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Where to write the result (default: FILE with .int8.onnx)" };
        var validation = new Option<FileInfo?>("--validation") { Description = "Validation rows: an infer request (Open Inference Protocol JSON); default 64 seeded rows fitting the signature" };
        var minCosine = new Option<double?>("--min-cosine") { Description = "Gate: lowest per-row cosine similarity allowed (e.g. 0.99)" };
        var minTop1 = new Option<double?>("--min-top1") { Description = "Gate: lowest share of rows whose top class stays (e.g. 1 for all)" };
        var maxDiff = new Option<double?>("--max-abs-diff") { Description = "Gate: largest absolute output difference allowed" };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var deploy = new Option<string?>("--deploy") { Description = "Register the result as a new version of this model (only if it passes the gate)" };
        var parent = new Option<int?>("--parent") { Description = "With --deploy: the version the file is (default: the model's default version)" };
        var command = new Command("optimize", "Write an int8 version of a model, report what it costs in accuracy and gains in size and speed, optionally deploy it")
        {
            file, int8, perTensor, exclude, output, validation, minCosine, minTop1, maxDiff, json, deploy, parent,
        };
        command.SetAction(async (parse, _) =>
        {
            var source = parse.GetValue(file)!;
            if (!source.Exists) return Fail(ExitCodes.Usage, $"no file at {source.FullName}");
            var original = await File.ReadAllBytesAsync(source.FullName);
            var target = parse.GetValue(output)?.FullName ?? Path.ChangeExtension(source.FullName, ".int8.onnx");
            var perChannel = !parse.GetValue(perTensor);
            Int8Result result;
            OptimizationReport report;
            try
            {
                result = Int8Quantizer.QuantizeDynamic(original, new Int8Options(perChannel, parse.GetValue(exclude)));
                var rows = parse.GetValue(validation) is { } rowsFile
                    ? InferenceJson.ReadRequest("validation", null, await File.ReadAllBytesAsync(rowsFile.FullName), ReadOnlyMemory<byte>.Empty).Request.Inputs
                    : null;
                report = OptimizationReport.Measure(original, result.Model, rows,
                    new QualityGate(parse.GetValue(minCosine), parse.GetValue(minTop1), parse.GetValue(maxDiff)), TimeSpan.FromSeconds(1));
            }
            catch (MeshException e)
            {
                return Fail(ExitCodes.Rejected, e.Message);
            }
            await File.WriteAllBytesAsync(target, result.Model);
            var optimization = perChannel ? "int8-dynamic-per-channel" : "int8-dynamic-per-tensor";
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(report, ReportJson));
            else Print(report, result, target, optimization);
            if (!report.Passed) return Fail(ExitCodes.Rejected, "the optimized model fails the quality gate" + (parse.GetValue(deploy) is null ? "" : "; not deployed") + ": " + string.Join("; ", report.Failures));
            if (parse.GetValue(deploy) is not { } name) return ExitCodes.Ok;
            return await run(parse, async mesh =>
            {
                var parentVersion = parse.GetValue(parent) ?? (await mesh.GetModelAsync(name)).DefaultVersion;
                var notes = JsonSerializer.Serialize(report, ReportJson);
                var version = await mesh.DeployAsync(name, result.Model, makeDefault: false, new ModelLineage(parentVersion, null, optimization, notes));
                Console.WriteLine($"model {name} version {version.Version} registered from version {parentVersion} ({optimization}; not the default: promote or split traffic to serve it)");
                return ExitCodes.Ok;
            });
        });
        return command;
    }

    private static readonly JsonSerializerOptions ReportJson = new(JsonSerializerDefaults.Web);

    private static void Print(OptimizationReport r, Int8Result result, string target, string optimization)
    {
        Console.WriteLine($"{optimization}: {result.QuantizedNodes} MatMul/Gemm nodes, {result.WeightsQuantized:N0} weights; written to {target}");
        foreach (var skipped in result.Skipped) Console.WriteLine($"  left in fp32: {skipped}");
        Console.WriteLine($"size        {r.OriginalBytes:N0} -> {r.OptimizedBytes:N0} bytes ({r.SizeRatio:F2}x smaller)");
        Console.WriteLine($"batch 1     {r.OriginalBatch1Ms:F3} -> {r.OptimizedBatch1Ms:F3} ms ({r.Batch1Speedup:F2}x)");
        Console.WriteLine($"batch 32    {r.OriginalBatch32RowsPerSecond:F0} -> {r.OptimizedBatch32RowsPerSecond:F0} rows/s ({r.Batch32Speedup:F2}x)");
        Console.WriteLine($"outputs     over {r.Rows} rows: max abs difference {r.MaxAbsoluteDifference:G4}, lowest cosine {r.MinCosine:F5}" +
                          (r.Top1Agreement is { } t ? $", top-1 agreement {t:P1}" : ""));
        Console.WriteLine(r.Passed ? "gate        passed" : "gate        FAILED: " + string.Join("; ", r.Failures));
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine("error: " + message);
        return code;
    }
}
