using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;
using Mesh.Client;
using Mesh.Client.Http;

namespace Mesh.Cli;

/// <summary>The <c>mesh</c> command tree. Every command talks to one gateway, named by --gateway.</summary>
public static class MeshCommands
{
    private static readonly Option<string> Gateway = new("--gateway", "-g")
    {
        Description = "Silo gateway to talk to, host:port (env MESH_GATEWAY)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MESH_GATEWAY") ?? MeshClientOptions.DefaultGateway,
        Recursive = true,
    };

    private static readonly Option<string> Cluster = new("--cluster")
    {
        Description = "Cluster (region) the gateway belongs to (env MESH_CLUSTER)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MESH_CLUSTER") ?? MeshClientOptions.DefaultClusterId,
        Recursive = true,
    };

    private static readonly Option<double> ConnectTimeout = new("--connect-timeout")
    {
        Description = "Seconds to keep trying to reach the gateway",
        DefaultValueFactory = _ => MeshClientOptions.DefaultConnectTimeout.TotalSeconds,
        Recursive = true,
    };

    private static readonly Option<string?> Http = new("--http")
    {
        Description = "Use the gateway's HTTP API at this URL (e.g. http://127.0.0.1:8000) instead of the Orleans gateway (env MESH_HTTP)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MESH_HTTP"),
        Recursive = true,
    };

    internal static readonly Option<string?> Regions = new("--regions")
    {
        Description = "Spread predicts over regions, nearest first, failing over and hedging between them: NAME=HOST:PORT,NAME=HOST:PORT (predict and bench; env MESH_REGIONS)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MESH_REGIONS"),
        Recursive = true,
    };

    private static readonly Option<string?> ApiKey = new("--api-key")
    {
        Description = "API key for the HTTP gateway (env MESH_API_KEY)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MESH_API_KEY"),
        Recursive = true,
    };

    public static RootCommand Build()
    {
        var root = new RootCommand("mesh: deploy ONNX models to a Mesh and get predictions from it.");
        root.Options.Add(Gateway);
        root.Options.Add(Cluster);
        root.Options.Add(ConnectTimeout);
        root.Options.Add(Http);
        root.Options.Add(Regions);
        root.Options.Add(ApiKey);
        root.Subcommands.Add(DeployCommand());
        root.Subcommands.Add(ModelsCommand());
        root.Subcommands.Add(ModelCommand());
        // These have no HTTP form: through RunOnGateway they refuse --http rather than quietly use the gateway.
        foreach (var lifecycle in LifecycleCommands.Build(RunOnGateway)) root.Subcommands.Add(lifecycle);
        foreach (var events in EventCommands.Build(RunOnGateway)) root.Subcommands.Add(events);
        foreach (var devices in DeviceCommands.Build(RunOnGateway)) root.Subcommands.Add(devices);
        root.Subcommands.Add(OptimizeCommand.Build(RunOnGateway));
        root.Subcommands.Add(PredictCommand());
        root.Subcommands.Add(PolicyCommand());
        root.Subcommands.Add(UsageCommand());
        root.Subcommands.Add(KeysCommand());
        root.Subcommands.Add(Bench.BenchCommand.Build(Run, Http, Regions));
        return root;
    }

    /// <summary>
    /// Runs a command through the transport the command line chose, the one place that choice is made: the HTTP API
    /// when --http (or MESH_HTTP) is given and the command has an HTTP form, else the Orleans gateway. A command with
    /// no HTTP form refuses --http instead of silently using the gateway.
    /// </summary>
    internal static Task<int> Run(ParseResult parse, Func<MeshClient, Task<int>> grain, Func<MeshHttpClient, Task<int>>? http = null,
        Func<MeshRegions, Task<int>>? regions = null)
    {
        if (parse.GetValue(Regions) is string spec)
        {
            return regions is not null
                ? MeshConnection.RunRegionsAsync(spec, regions)
                : Task.FromResult(MeshConnection.Fail(ExitCodes.Usage,
                    $"'{parse.CommandResult.Command.Name}' does not span regions (--regions serves predict and bench); give --gateway HOST:PORT --cluster NAME of one region"));
        }
        if (parse.GetValue(Http) is not string url)
            return MeshConnection.RunAsync(parse.GetValue(Gateway)!, parse.GetValue(Cluster)!, TimeSpan.FromSeconds(parse.GetValue(ConnectTimeout)), grain);
        if (http is null)
        {
            var command = parse.CommandResult.Command.Name;
            return Task.FromResult(MeshConnection.Fail(ExitCodes.Usage,
                $"'{command}' is not served by the HTTP API (--http {url}); it needs the Orleans gateway: drop --http (or unset MESH_HTTP) and give --gateway HOST:PORT"));
        }
        return MeshConnection.RunHttpAsync(url, parse.GetValue(ApiKey), http);
    }

    internal static Task<int> RunOnGateway(ParseResult parse, Func<MeshClient, Task<int>> grain) => Run(parse, grain);

    /// <summary>Commands whose work the HTTP API cannot carry in full refuse --http with this, naming what it lacks.</summary>
    internal static int RefuseOverHttp(string what) =>
        MeshConnection.Fail(ExitCodes.Usage, $"the HTTP API does not carry {what}; drop --http to use the Orleans gateway");

    private static Command DeployCommand()
    {
        var name = new Argument<string>("NAME") { Description = "Model name (A-Z, a-z, 0-9, '.', '_', '-')" };
        var file = new Argument<FileInfo>("FILE") { Description = "ONNX model file" };
        var keepDefault = new Option<bool>("--no-default") { Description = "Register the version without giving it all traffic" };
        var parent = new Option<int?>("--parent") { Description = "Lineage: the version this one was derived from" };
        var trainingData = new Option<string?>("--training-data-hash") { Description = "Lineage: a hash of the data it was trained on" };
        var optimization = new Option<string?>("--optimization") { Description = "Lineage: the optimization applied (e.g. int8-dynamic)" };
        var notes = new Option<string?>("--notes") { Description = "Lineage: free notes" };
        var regions = new Option<string[]>("--region") { Description = "Pin a new model to this region (repeat for several): its data never leaves them", AllowMultipleArgumentsPerToken = false };
        var command = new Command("deploy", "Register an ONNX file as the model's next version") { name, file, keepDefault, parent, trainingData, optimization, notes, regions };
        command.SetAction(async (parse, _) =>
        {
            var path = parse.GetValue(file)!;
            if (!path.Exists)
                return MeshConnection.Fail(ExitCodes.Usage, $"FILE: no file at {path.FullName}");
            var model = parse.GetValue(name)!;
            var bytes = await File.ReadAllBytesAsync(path.FullName);
            var sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
            var lineage = new ModelLineage(parse.GetValue(parent), parse.GetValue(trainingData), parse.GetValue(optimization), parse.GetValue(notes));
            var pinned = parse.GetValue(regions) is { Length: > 0 } r ? r : null;
            return await Run(parse, async mesh =>
            {
                // Versions are keyed by content: the same bytes are the version that already holds them, not a new one.
                var existing = await ExistingVersionAsync(mesh, model, sha256);
                if (existing is { Retired: true })
                    return MeshConnection.Fail(ExitCodes.Rejected,
                        $"model '{model}': these bytes are version {existing.Version} (sha256 {sha256}), which is retired; a retired version is not registered again. " +
                        "Deploy a changed file to get a new version.");
                var version = await mesh.DeployAsync(model, bytes, makeDefault: !parse.GetValue(keepDefault), lineage, pinned);
                Console.WriteLine(existing is null
                    ? $"deployed {version.Model} version {version.Version} (sha256 {version.ArtifactSha256}, {version.ArtifactBytes} bytes)"
                    : $"{version.Model} version {version.Version} already holds these bytes (sha256 {version.ArtifactSha256}); nothing new was registered");
                PrintSignature(version.Signature);
                return ExitCodes.Ok;
            }, async http =>
            {
                if (lineage != ModelLineage.None || pinned is not null) return RefuseOverHttp("lineage (--parent, --notes, ...) and residency (--region)");
                var version = await http.DeployAsync(model, bytes, makeDefault: !parse.GetValue(keepDefault));
                Console.WriteLine($"deployed {version.Model} version {version.Version} (sha256 {version.ArtifactSha256}, {version.ArtifactBytes} bytes)");
                PrintSignature((await http.GetMetadataAsync(model, version.Version)).Signature);
                return ExitCodes.Ok;
            });
        });
        return command;
    }

    private static async Task<ModelVersionInfo?> ExistingVersionAsync(MeshClient mesh, string model, string sha256)
    {
        try
        {
            return (await mesh.GetModelAsync(model)).Versions.FirstOrDefault(v => v.ArtifactSha256 == sha256);
        }
        catch (Mesh.Abstractions.Errors.ModelNotFoundException)
        {
            return null;
        }
    }

    private static Command ModelsCommand()
    {
        var command = new Command("models", "List the deployed models");
        command.SetAction((parse, _) => Run(parse, async mesh =>
        {
            var models = await mesh.ListModelsAsync();
            if (models.Length == 0)
            {
                Console.WriteLine("no models deployed");
                return ExitCodes.Ok;
            }
            var width = Math.Max(4, models.Max(m => m.Name.Length));
            Console.WriteLine($"{"NAME".PadRight(width)}  DEFAULT  VERSIONS");
            foreach (var m in models)
                Console.WriteLine($"{m.Name.PadRight(width)}  {m.DefaultVersion,7}  {string.Join(",", m.Versions.Select(v => v.Version))}");
            return ExitCodes.Ok;
        }, async http =>
        {
            var index = await http.IndexAsync();
            if (index.Length == 0)
            {
                Console.WriteLine("no models deployed");
                return ExitCodes.Ok;
            }
            var models = index.GroupBy(e => e.Name).ToList();
            var width = Math.Max(4, models.Max(m => m.Key.Length));
            Console.WriteLine($"{"NAME".PadRight(width)}  VERSIONS");
            foreach (var m in models)
                Console.WriteLine($"{m.Key.PadRight(width)}  {string.Join(",", m.Select(e => e.Version))}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command ModelCommand()
    {
        var name = new Argument<string>("NAME") { Description = "Model name" };
        var version = new Option<int?>("--version", "-v") { Description = "Version whose signature to show (default: the default version)" };
        var command = new Command("model", "Show a model's versions and a version's signature") { name, version };
        command.SetAction((parse, _) => Run(parse, async mesh =>
        {
            var model = await mesh.GetModelAsync(parse.GetValue(name)!);
            var shown = parse.GetValue(version) is int v ? await mesh.GetVersionAsync(model.Name, v) : model.FindVersion(model.DefaultVersion)!;
            Console.WriteLine($"model {model.Name}, default version {model.DefaultVersion}");
            foreach (var each in model.Versions)
                Console.WriteLine($"  version {each.Version}{(each.Version == model.DefaultVersion ? " (default)" : "")}{(each.Retired ? " (retired)" : "")}  sha256 {each.ArtifactSha256}  {each.ArtifactBytes} bytes  registered {each.RegisteredAt:u}");
            Console.WriteLine($"traffic: {LifecycleCommands.DescribeTraffic(model)}");
            if (model.ShadowVersion is int shadow)
                Console.WriteLine($"shadow v{shadow}: {(await LifecycleCommands.ShadowTallyAsync(mesh, model.Name, shadow)).Describe()} (this region, as of about a second ago)");
            if (model.Regions is { } pinnedTo) Console.WriteLine($"residency: {string.Join(", ", pinnedTo)}");
            Console.WriteLine($"policy: {Describe(model.ServingPolicy)}");
            Console.WriteLine($"signature of version {shown.Version}:");
            PrintSignature(shown.Signature);
            return ExitCodes.Ok;
        }, async http =>
        {
            var metadata = await http.GetMetadataAsync(parse.GetValue(name)!, parse.GetValue(version));
            Console.WriteLine($"model {metadata.Name}, versions {string.Join(", ", metadata.Versions)}, platform {metadata.Platform}");
            Console.WriteLine($"signature of version {parse.GetValue(version)?.ToString() ?? "(default)"}:");
            PrintSignature(metadata.Signature);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command PredictCommand()
    {
        var name = new Argument<string>("NAME") { Description = "Model name" };
        var version = new Option<int?>("--version", "-v") { Description = "Version to run (default: the model's default version)" };
        var inputs = new Option<string[]>("--input", "-i")
        {
            Description = "An input tensor as name=shape:values, shape like 2x3, values comma-separated row-major (e.g. x=1x3:0.5,1,2). Repeat per input.",
            AllowMultipleArgumentsPerToken = false,
        };
        var json = new Option<FileInfo?>("--json") { Description = "Read the request from a file in Open Inference Protocol JSON ({\"inputs\":[{\"name\",\"shape\",\"datatype\",\"data\"}]})" };
        var outputs = new Option<string[]>("--output", "-o") { Description = "Return only these outputs (repeatable)" };
        var format = new Option<string>("--format") { Description = "Output format", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var routingKey = new Option<string?>("--routing-key", "-k") { Description = "Keeps callers with the same key on one version of a traffic split (e.g. a user id)" };
        var command = new Command("predict", "Run a model on the given inputs and print its outputs") { name, version, inputs, json, outputs, format, routingKey };
        command.Validators.Add(result =>
        {
            var hasInputs = (result.GetValue(inputs)?.Length ?? 0) > 0;
            var hasJson = result.GetValue(json) is not null;
            if (hasInputs == hasJson)
                result.AddError("give the inputs either with --input (one per tensor) or with --json FILE");
        });
        command.SetAction((parse, _) =>
        {
            async Task<int> Predict(Func<string, int?, Task<ModelSignature>> signatureOf, Func<PredictRequest, Task<PredictResponse>> predict)
            {
                var model = parse.GetValue(name)!;
                var requestedVersion = parse.GetValue(version);
                PredictRequest request;
                if (parse.GetValue(json) is FileInfo file)
                {
                    if (!file.Exists) throw new CommandLineInputException($"--json: no file at {file.FullName}");
                    request = InferenceJson.ReadRequest(model, requestedVersion, await File.ReadAllTextAsync(file.FullName));
                }
                else
                {
                    // Element types come from the signature, so values can be typed plainly on the command line.
                    var signature = await signatureOf(model, requestedVersion);
                    request = new PredictRequest(model, parse.GetValue(inputs)!.Select(i => ParseInput(i, signature)).ToArray(), requestedVersion);
                }
                var wanted = parse.GetValue(outputs);
                if (wanted is { Length: > 0 }) request = request with { Outputs = wanted };
                if (parse.GetValue(routingKey) is { } key) request = request with { RoutingKey = key };

                var response = await predict(request);
                if (parse.GetValue(format) == "json") PrintJson(response);
                else PrintText(response);
                return ExitCodes.Ok;
            }

            return Run(parse, mesh => Predict(
                async (model, v) =>
                {
                    if (v is int number) return (await mesh.GetVersionAsync(model, number)).Signature;
                    var info = await mesh.GetModelAsync(model);
                    return info.FindVersion(info.DefaultVersion)!.Signature;
                },
                mesh.PredictAsync), http => Predict(
                    async (model, v) => (await http.GetMetadataAsync(model, v)).Signature,
                    request => http.PredictAsync(request)), regions => Predict(
                    async (model, v) =>
                    {
                        var mesh = await regions.ForWritesAsync();
                        if (v is int number) return (await mesh.GetVersionAsync(model, number)).Signature;
                        var info = await mesh.GetModelAsync(model);
                        return info.FindVersion(info.DefaultVersion)!.Signature;
                    },
                    async request =>
                    {
                        var routed = await regions.PredictAsync(request);
                        var first = regions.Regions[0].Name;
                        Console.Error.WriteLine(routed.Region == first ? $"answered by region {routed.Region}" : $"answered by region {routed.Region} (failover from {first})");
                        return routed.Response;
                    }));
        });
        return command;
    }

    private static string Describe(ServingPolicy p) =>
        $"max batch {p.MaxBatchSize}, max queue delay {p.MaxQueueDelayMicroseconds} us, "
        + (p.PreferredBatchSizes is { Length: > 0 } ? $"preferred batch sizes {string.Join(",", p.PreferredBatchSizes)}, " : "")
        + $"queue {p.MaxQueueSize}, min warm {p.MinWarm}, idle timeout {p.IdleTimeout?.ToString() ?? "silo default"}, warm-up on load {(p.WarmupOnLoad ? "yes" : "no")}"
        + (p.OptimizationGate is { IsEmpty: false } g
            ? "; optimized versions must keep " + string.Join(", ", new[]
            {
                g.MinCosine is { } c ? $"cosine >= {c}" : null,
                g.MinTop1Agreement is { } t ? $"top-1 agreement >= {t}" : null,
                g.MaxAbsoluteDifference is { } m ? $"max abs difference <= {m}" : null,
            }.OfType<string>())
            : "");

    private static Command PolicyCommand()
    {
        var name = new Argument<string>("NAME") { Description = "Model name" };
        var maxBatch = new Option<int?>("--max-batch") { Description = "Most rows in one run; 1 turns batching off" };
        var delay = new Option<int?>("--max-delay-us") { Description = "Microseconds a batch may wait for more requests" };
        var preferred = new Option<int[]>("--preferred") { Description = "Batch sizes to dispatch at as soon as reached", AllowMultipleArgumentsPerToken = true };
        var queue = new Option<int?>("--queue") { Description = "Requests that may wait per version per silo" };
        var minWarm = new Option<int?>("--min-warm") { Description = "1: keep a session loaded in every silo; 0: let it go idle" };
        var idle = CommandLineParsing.DurationOption("--idle-timeout", "Idle time before a session is unloaded");
        var warmup = new Option<bool?>("--warmup") { Description = "Run an all-zero input when a session loads" };
        var gateCosine = new Option<double?>("--gate-min-cosine") { Description = "mesh optimize --deploy: lowest per-row cosine an optimized version may show" };
        var gateTop1 = new Option<double?>("--gate-min-top1") { Description = "mesh optimize --deploy: lowest share of rows whose top class stays" };
        var gateDiff = new Option<double?>("--gate-max-abs-diff") { Description = "mesh optimize --deploy: largest absolute output difference" };
        var command = new Command("policy", "Show or change how a model is served (batching, queue, warm sessions) and the quality optimized versions must keep")
        {
            name, maxBatch, delay, preferred, queue, minWarm, idle, warmup, gateCosine, gateTop1, gateDiff,
        };
        command.SetAction((parse, _) => Run(parse, async mesh =>
        {
            var model = await mesh.GetModelAsync(parse.GetValue(name)!);
            var p = model.ServingPolicy;
            var changed = p with
            {
                MaxBatchSize = parse.GetValue(maxBatch) ?? p.MaxBatchSize,
                MaxQueueDelayMicroseconds = parse.GetValue(delay) ?? p.MaxQueueDelayMicroseconds,
                PreferredBatchSizes = parse.GetValue(preferred) is { Length: > 0 } sizes ? sizes : p.PreferredBatchSizes,
                MaxQueueSize = parse.GetValue(queue) ?? p.MaxQueueSize,
                MinWarm = parse.GetValue(minWarm) ?? p.MinWarm,
                IdleTimeout = parse.GetValue(idle) ?? p.IdleTimeout,
                WarmupOnLoad = parse.GetValue(warmup) ?? p.WarmupOnLoad,
                OptimizationGate = (p.OptimizationGate ?? new QualityGate()).With(new QualityGate(parse.GetValue(gateCosine), parse.GetValue(gateTop1), parse.GetValue(gateDiff))) is { IsEmpty: false } gate
                    ? gate : null,
            };
            if (changed != p) model = await mesh.SetPolicyAsync(model.Name, changed);
            Console.WriteLine($"model {model.Name} policy: {Describe(model.ServingPolicy)}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command UsageCommand()
    {
        var command = new Command("usage", "Requests, rows, compute and queue time per caller (API key or client id)");
        command.SetAction((parse, _) => Run(parse, async mesh =>
        {
            var usage = await mesh.GetUsageAsync();
            if (usage.Length == 0)
            {
                Console.WriteLine("no usage recorded");
                return ExitCodes.Ok;
            }
            var width = Math.Max(6, usage.Max(u => u.Caller.Length));
            Console.WriteLine($"{"CALLER".PadRight(width)}  {"REQUESTS",10}  {"ROWS",10}  {"COMPUTE MS",12}  {"QUEUE MS",12}");
            foreach (var u in usage)
                Console.WriteLine($"{u.Caller.PadRight(width)}  {u.Requests,10}  {u.Rows,10}  {u.ComputeMs,12:F1}  {u.QueueMs,12:F1}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command KeysCommand()
    {
        var keyName = new Option<string>("--name") { Description = "Who the key is for (rate limits count per name)", Required = true };
        var role = new Option<string>("--role") { Description = "infer (metadata and predicts) or admin (also deploy, load, unload)", DefaultValueFactory = _ => "infer" };
        role.AcceptOnlyFromAmong("infer", "admin");
        var create = new Command("new", "Make a new API key and print the configuration entry the gateway needs (only its hash)") { keyName, role };
        create.SetAction(parse =>
        {
            var key = ApiKeys.New();
            Console.WriteLine($"key:    {key}");
            Console.WriteLine("        give it to the caller; the mesh keeps only its hash and cannot show it again");
            Console.WriteLine("config: (appsettings.json, Mesh:Gateway:ApiKeys)");
            Console.WriteLine($"        {{ \"Name\": \"{parse.GetValue(keyName)}\", \"Sha256\": \"{ApiKeys.Hash(key)}\", \"Role\": \"{parse.GetValue(role)}\" }}");
            return ExitCodes.Ok;
        });
        return new Command("keys", "API keys for the HTTP and gRPC gateway") { create };
    }

    /// <summary>Parses name=shape:values, e.g. input=2x3:1,2,3,4,5,6. An input the signature lacks is sent as float32 for the mesh to reject by name.</summary>
    public static NamedTensor ParseInput(string text, ModelSignature signature)
    {
        var equals = text.IndexOf('=');
        var colon = equals < 0 ? -1 : text.IndexOf(':', equals);
        if (equals <= 0 || colon < 0)
            throw new CommandLineInputException($"--input '{text}': expected name=shape:values, e.g. x=1x3:0.5,1,2");
        var name = text[..equals];
        var shapeText = text[(equals + 1)..colon];
        long[] shape;
        try
        {
            shape = shapeText.Length == 0 ? [] : shapeText.Split('x').Select(d => long.Parse(d, NumberStyles.None, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new CommandLineInputException($"--input '{name}': shape '{shapeText}' must be dimensions separated by 'x', e.g. 2x64");
        }
        var valuesText = text[(colon + 1)..];
        var values = valuesText.Length == 0 ? [] : valuesText.Split(',');
        var type = signature.FindInput(name)?.ElementType ?? TensorElementType.Float32;
        var writer = new TensorValueWriter(name, type, NamedTensor.ShapeElementCount(shape));
        foreach (var value in values) writer.WriteText(value);
        return writer.ToTensor(shape);
    }

    private static void PrintSignature(ModelSignature signature)
    {
        foreach (var input in signature.Inputs) Console.WriteLine($"  input  {input}");
        foreach (var output in signature.Outputs) Console.WriteLine($"  output {output}");
    }

    private static void PrintJson(PredictResponse response)
    {
        using var stream = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            InferenceJson.WriteResponse(writer, response);
        stream.Write("\n"u8);
    }

    private static void PrintText(PredictResponse response)
    {
        Console.WriteLine($"model {response.Model} version {response.Version}{(response.ColdStart ? " (cold start)" : "")}");
        foreach (var output in response.Outputs)
        {
            Console.WriteLine($"{output.Name}: {output.ElementType.DisplayName()} {NamedTensor.ShapeText(output.Shape)}");
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer))
                InferenceJson.WriteTensor(writer, output);
            using var parsed = JsonDocument.Parse(buffer.ToArray());
            var values = parsed.RootElement.GetProperty("data").EnumerateArray().Select(v => v.ToString()).ToArray();
            var rowLength = output.Shape.Length > 1 ? (int)(output.ElementCount / Math.Max(1, output.Shape[0])) : values.Length;
            for (var start = 0; start < values.Length; start += Math.Max(1, rowLength))
                Console.WriteLine("  " + string.Join(" ", values.Skip(start).Take(Math.Max(1, rowLength))));
        }
    }
}
