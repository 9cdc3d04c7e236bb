using System.CommandLine;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Net.Client;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;
using Mesh.Client;
using Mesh.Client.Grpc;
using Mesh.Client.Http;

namespace Mesh.Cli.Bench;

/// <summary><c>mesh bench</c>: load a model through the grain client, HTTP or gRPC and report throughput and latency.</summary>
public static class BenchCommand
{
    public static Command Build(Func<ParseResult, Func<MeshClient, Task<int>>, Func<MeshHttpClient, Task<int>>?, Func<MeshRegions, Task<int>>?, Task<int>> run,
        Option<string?> http, Option<string?> regionsOption)
    {
        var name = new Argument<string>("NAME") { Description = "Model name" };
        var concurrency = new Option<int[]>("--concurrency", "-c") { Description = "Requests in flight; several values run a sweep", DefaultValueFactory = _ => [1], AllowMultipleArgumentsPerToken = true };
        var requests = new Option<int?>("--requests", "-n") { Description = "Requests per level (default 1000 unless --duration is given)" };
        var duration = new Option<double?>("--duration", "-d") { Description = "Seconds per level" };
        var rows = new Option<int>("--rows") { Description = "Rows per request (the first, symbolic dimension)", DefaultValueFactory = _ => 1 };
        var dims = new Option<int>("--symbolic-dims") { Description = "Size for every other symbolic dimension (e.g. sequence length)", DefaultValueFactory = _ => 16 };
        var input = new Option<FileInfo?>("--input-json") { Description = "Send this Open Inference Protocol request instead of random inputs" };
        var transport = new Option<string?>("--transport", "-t") { Description = "grain (Orleans client), http, grpc or regions (default: regions with --regions, http with --http, else grain)" };
        transport.AcceptOnlyFromAmong("grain", "http", "grpc", "regions");
        var grpcUrl = new Option<string>("--grpc") { Description = "gRPC endpoint for --transport grpc", DefaultValueFactory = _ => "http://127.0.0.1:8001" };
        var grpcKey = new Option<string?>("--api-key") { Description = "API key for the gRPC endpoint (env MESH_API_KEY)", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MESH_API_KEY") };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON" };
        var command = new Command("bench", "Load a model and report throughput, p50/p90/p99 latency and errors (in the spirit of perf_analyzer)")
            { name, concurrency, requests, duration, rows, dims, input, transport, grpcUrl, json };

        command.SetAction(async (parse, _) =>
        {
            var model = parse.GetValue(name)!;
            var levels = parse.GetValue(concurrency)!;
            var count = parse.GetValue(requests) ?? (parse.GetValue(duration) is null ? 1000 : null);
            var time = parse.GetValue(duration) is double s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;
            var mode = parse.GetValue(transport) ?? (parse.GetValue(regionsOption) is not null ? "regions" : parse.GetValue(http) is null ? "grain" : "http");
            var results = new List<BenchResult>();

            async Task<int> Sweep(Func<PredictRequest, Func<Task>> caller, ModelSignature signature)
            {
                var request = parse.GetValue(input) is FileInfo file
                    ? InferenceJson.ReadRequest(model, null, await File.ReadAllTextAsync(file.FullName))
                    : new PredictRequest(model, RandomInputs(signature, parse.GetValue(rows), parse.GetValue(dims)));
                var rowCount = request.Inputs.Length > 0 && request.Inputs[0].Shape.Length > 0 ? (int)request.Inputs[0].Shape[0] : 1;
                var call = caller(request);
                foreach (var level in levels)
                {
                    var result = await LoadGenerator.RunAsync(mode, level, rowCount, call, count, time, warmupRequests: Math.Min(100, level * 4));
                    results.Add(result);
                    if (!parse.GetValue(json)) Print(result);
                }
                if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
                return results.Any(r => r.Errors > 0) ? ExitCodes.Rejected : ExitCodes.Ok;
            }

            if (!parse.GetValue(json))
                Console.WriteLine($"{"TRANSPORT",-9} {"CONC",5} {"REQUESTS",9} {"ERRORS",7} {"REQ/S",10} {"ROWS/S",11} {"P50 MS",8} {"P90 MS",8} {"P99 MS",8}");

            switch (mode)
            {
                case "regions":
                    if (parse.GetValue(regionsOption) is null)
                        return MeshConnection.Fail(ExitCodes.Usage, "--transport regions needs --regions NAME=HOST:PORT,...");
                    return await run(parse, _ => Task.FromResult(ExitCodes.Usage), null, async regions =>
                    {
                        var info = await (await regions.ForWritesAsync()).GetModelAsync(model);
                        var answeredBy = new System.Collections.Concurrent.ConcurrentDictionary<string, long>(StringComparer.Ordinal);
                        var exit = await Sweep(r => async () => answeredBy.AddOrUpdate((await regions.PredictAsync(r)).Region, 1, (_, n) => n + 1), info.FindVersion(info.DefaultVersion)!.Signature);
                        Console.WriteLine($"answered by: {string.Join(", ", answeredBy.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key} {a.Value}"))}; failovers: {regions.Failovers}");
                        return exit;
                    });
                case "grain":
                    if (parse.GetValue(http) is not null)
                        return MeshConnection.Fail(ExitCodes.Usage, "--transport grain loads the Orleans gateway; drop --http, or pick --transport http");
                    return await run(parse, async mesh =>
                    {
                        var info = await mesh.GetModelAsync(model);
                        return await Sweep(r => () => mesh.PredictAsync(r), info.FindVersion(info.DefaultVersion)!.Signature);
                    }, null, null);
                case "http":
                    return await MeshConnection.RunHttpAsync(parse.GetValue(http) ?? "http://127.0.0.1:8000", parse.GetValue(grpcKey), async client =>
                    {
                        var metadata = await client.GetMetadataAsync(model);
                        return await Sweep(r => () => client.PredictAsync(r), metadata.Signature);
                    });
                default:
                    // Everything over gRPC, the signature too: a gRPC-only endpoint needs no HTTP address.
                    return await MeshConnection.RunGrpcAsync(parse.GetValue(grpcUrl)!, async channel =>
                    {
                        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
                        var headers = parse.GetValue(grpcKey) is string key ? new Grpc.Core.Metadata { { "authorization", $"Bearer {key}" } } : null;
                        var metadata = await grpc.ModelMetadataAsync(new ModelMetadataRequest { Name = model }, headers);
                        return await Sweep(r =>
                        {
                            var message = ToGrpc(r);
                            return async () => await grpc.ModelInferAsync(message, headers);
                        }, SignatureOf(metadata));
                    });
            }
        });
        return command;
    }

    /// <summary>The signature a gRPC ModelMetadata answer describes (names, types, shapes with -1 for variable dimensions).</summary>
    public static ModelSignature SignatureOf(ModelMetadataResponse metadata)
    {
        static TensorSpec Spec(ModelMetadataResponse.Types.TensorMetadata t)
        {
            if (!InferenceJson.TryParseDataType(t.Datatype, out var type))
                throw new CommandLineInputException($"the endpoint describes tensor '{t.Name}' with datatype '{t.Datatype}', which Mesh does not know");
            return new TensorSpec(t.Name, type, t.Shape.ToArray(), new string?[t.Shape.Count]);
        }
        return new ModelSignature(metadata.Inputs.Select(Spec).ToArray(), metadata.Outputs.Select(Spec).ToArray());
    }

    private static void Print(BenchResult r) =>
        Console.WriteLine($"{r.Transport,-9} {r.Concurrency,5} {r.Requests,9} {r.Errors,7} {r.RequestsPerSecond,10:F0} {r.RowsPerSecond,11:F0} {r.P50Ms,8:F3} {r.P90Ms,8:F3} {r.P99Ms,8:F3}"
                          + (r.FirstError is null ? "" : $"  first error: {r.FirstError}"));

    /// <summary>Random inputs that fit a signature: floats in [-1,1), integers and bools in {0,1}, strings "x".</summary>
    public static NamedTensor[] RandomInputs(ModelSignature signature, int rows, int symbolicSize)
    {
        var random = new Random(17);
        return signature.Inputs.Where(i => i.Kind == ValueKind.Tensor).Select(spec =>
        {
            var shape = spec.Shape.Select((d, i) => d >= 0 ? d : i == 0 ? rows : symbolicSize).ToArray();
            var count = (int)NamedTensor.ShapeElementCount(shape);
            var writer = new TensorValueWriter(spec.Name, spec.ElementType, count);
            for (var i = 0; i < count; i++)
            {
                switch (spec.ElementType)
                {
                    case TensorElementType.String: writer.WriteString("x"); break;
                    case TensorElementType.Bool: writer.WriteBool(random.Next(2) == 1); break;
                    case TensorElementType.Float32 or TensorElementType.Float64: writer.WriteDouble(random.NextDouble() * 2 - 1); break;
                    default: writer.WriteInt64(random.Next(2)); break;
                }
            }
            return writer.ToTensor(shape);
        }).ToArray();
    }

    /// <summary>A predict as a gRPC ModelInfer request with raw contents.</summary>
    public static ModelInferRequest ToGrpc(PredictRequest request)
    {
        var message = new ModelInferRequest { ModelName = request.Model, ModelVersion = request.Version?.ToString() ?? "" };
        foreach (var input in request.Inputs)
        {
            message.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = input.Name, Datatype = InferenceJson.DataTypeName(input.ElementType), Shape = { input.Shape } });
            message.RawInputContents.Add(UnsafeByteOperations.UnsafeWrap(InferenceJson.EncodeBinary(input)));
        }
        return message;
    }
}
