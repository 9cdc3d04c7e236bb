using System.CommandLine;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Protocol;
using Mesh.Client;

namespace Mesh.Cli;

/// <summary>Edge devices from the command line: register one (and get its sync token), show its twin and sync state.</summary>
internal static class DeviceCommands
{
    public static IEnumerable<Command> Build(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        yield return Device(run);
        yield return Devices(run);
        yield return Drift(run);
    }

    private static Command Drift(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        // Each command has its own argument: one instance in two commands makes the help of both show both paths.
        var model = new Argument<string>("NAME") { Description = "Model" };
        var baselineModel = new Argument<string>("NAME") { Description = "Model" };
        var file = new Argument<FileInfo>("FILE") { Description = "Sample inputs: an infer request (Open Inference Protocol JSON) with many rows" };
        var threshold = new Option<double>("--threshold") { Description = "PSI above which a device's inputs count as drifted", DefaultValueFactory = _ => DriftBaseline.DefaultThreshold };
        var minSamples = new Option<long>("--min-samples") { Description = "Rows a device must have seen before it is judged", DefaultValueFactory = _ => DriftBaseline.DefaultMinSamples };
        var baseline = new Command("baseline", "Set the model's baseline input distribution from sample inputs (e.g. training rows)") { baselineModel, file, threshold, minSamples };
        baseline.SetAction((parse, _) => run(parse, async mesh =>
        {
            var (name, path) = (parse.GetValue(baselineModel)!, parse.GetValue(file)!);
            if (!path.Exists) return Fail($"no file at {path.FullName}");
            var (request, _) = InferenceJson.ReadRequest(name, null, await File.ReadAllBytesAsync(path.FullName), ReadOnlyMemory<byte>.Empty);
            var builder = new FeatureStatisticsBuilder();
            builder.Add(request.Inputs);
            if (builder.IsEmpty) return Fail($"{path.Name} has no float inputs to take statistics of");
            var features = builder.Build();
            await mesh.SetDriftBaselineAsync(name, new DriftBaseline(features, parse.GetValue(threshold), parse.GetValue(minSamples)));
            Console.WriteLine($"model {name}: drift baseline of {features.Length} features over {features.Max(f => f.Count)} rows, threshold PSI {parse.GetValue(threshold)}");
            return ExitCodes.Ok;
        }));
        var drift = new Command("drift", "How each device's inputs for a model compare with its baseline (population stability index)") { model, baseline };
        drift.SetAction((parse, _) => run(parse, async mesh =>
        {
            var name = parse.GetValue(model)!;
            await mesh.GetModelAsync(name);
            var reference = await mesh.GetDriftBaselineAsync(name);
            Console.WriteLine(reference is null
                ? $"model {name}: no drift baseline (set one with `mesh drift baseline {name} FILE`)"
                : $"model {name}: baseline of {reference.Features.Length} features, threshold PSI {reference.Threshold}, judged after {reference.MinSamples} rows");
            var devices = (await mesh.ListDevicesAsync()).Where(d => d.Models.Contains(name, StringComparer.Ordinal)).ToArray();
            if (devices.Length == 0) return ExitCodes.Ok;
            Console.WriteLine("DEVICE            SAMPLES   MAX PSI  FEATURE        STATE");
            foreach (var device in devices)
            {
                var r = await mesh.GetDeviceDriftAsync(device.Id, name);
                var state = reference is null ? "-" : r.Samples < reference.MinSamples ? "too few samples" : r.Drifting ? "DRIFTED" : "ok";
                Console.WriteLine($"{r.Device,-16}  {r.Samples,7}  {r.MaxPsi,8:F3}  {(r.Input is null ? "-" : $"{r.Input}[{r.Feature}]"),-13}  {state}");
            }
            return ExitCodes.Ok;
        }));
        return drift;
    }

    private static Command Device(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var id = new Argument<string>("ID") { Description = "Device id" };
        var command = new Command("device", "A device: home region, models, twin (desired and reported) and what the mesh holds of its results") { id };
        command.SetAction((parse, _) => run(parse, async mesh =>
        {
            Print(await mesh.GetDeviceAsync(parse.GetValue(id)!));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Devices(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var id = new Argument<string>("ID") { Description = "Device id (the rule of model names)" };
        var home = new Option<string>("--home") { Description = "The device's home region (where its data stays)", Required = true };
        var models = new Option<string[]>("--model") { Description = "A model the device runs (repeatable)", AllowMultipleArgumentsPerToken = true };
        var profile = new Option<string?>("--profile") { Description = "Edge profile, e.g. cpu-int8: assignments pick a variant made with that optimization" };
        var tokenOnly = new Option<bool>("--token-only") { Description = "Print only the sync token (for a script: token=$(mesh devices register ...)); nothing when the device already has one" };
        var register = new Command("register", "Register a device; the first registration prints its sync token, shown once") { id, home, models, profile, tokenOnly };
        register.SetAction((parse, _) => run(parse, async mesh =>
        {
            var labels = parse.GetValue(profile) is { } p ? new Dictionary<string, string> { [DesiredKeys.ProfileLabel] = p } : null;
            var device = await mesh.RegisterDeviceAsync(parse.GetValue(id)!, new DeviceRegistration(parse.GetValue(home)!, parse.GetValue(models) ?? [], labels));
            if (parse.GetValue(tokenOnly))
            {
                if (device.Token is { } issued) Console.WriteLine(issued);
                else Console.Error.WriteLine($"device {device.Id} already has a sync token; `mesh devices token {device.Id}` issues a new one");
                return ExitCodes.Ok;
            }
            Console.WriteLine($"device {device.Id} registered, home region {device.HomeRegion}");
            if (device.Token is { } token) Console.WriteLine($"sync token (shown once; give it to the bridge as Mesh:Edge:Token): {token}");
            return ExitCodes.Ok;
        }));
        var token = new Command("token", "Issue the device a new sync token; the old one stops working") { id };
        token.SetAction((parse, _) => run(parse, async mesh =>
        {
            Console.WriteLine(await mesh.IssueDeviceTokenAsync(parse.GetValue(id)!));
            return ExitCodes.Ok;
        }));
        var model = new Argument<string>("MODEL") { Description = "Model assigned to the device" };
        var version = new Argument<int>("VERSION") { Description = "Version the device should run" };
        var assign = new Command("assign", "Set the version of a model a device should run (its bridge downloads, checks and swaps it)") { id, model, version };
        assign.SetAction((parse, _) => run(parse, async mesh =>
        {
            var (device, name, number) = (parse.GetValue(id)!, parse.GetValue(model)!, parse.GetValue(version));
            var chosen = await mesh.AssignDeviceModelAsync(device, name, number);
            var variant = chosen.Version == number ? "" : $" (for its profile: version {chosen.Version}, {chosen.Lineage?.Optimization} of version {number})";
            Console.WriteLine($"device {device}: {name} version {chosen.Version} desired{variant} (sha256 {chosen.ArtifactSha256})");
            return ExitCodes.Ok;
        }));
        var properties = new Argument<string[]>("KEY=VALUE") { Description = "Desired properties (KEY= removes one)", Arity = ArgumentArity.OneOrMore };
        var desire = new Command("desire", "Set desired twin properties of a device (the cloud's half; the device follows)") { id, properties };
        desire.SetAction((parse, _) => run(parse, async mesh =>
        {
            var changes = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var pair in parse.GetValue(properties)!)
            {
                var at = pair.IndexOf('=');
                if (at <= 0) return Fail($"'{pair}' is not KEY=VALUE");
                changes[pair[..at]] = at == pair.Length - 1 ? null : pair[(at + 1)..];
            }
            Print(await mesh.SetDeviceDesiredAsync(parse.GetValue(id)!, changes));
            return ExitCodes.Ok;
        }));
        var devices = new Command("devices", "The region's devices (outbox, last sync, drift); register them, issue tokens, set what they run") { register, token, assign, desire };
        devices.SetAction((parse, _) => run(parse, async mesh =>
        {
            var fleet = await mesh.ListDevicesAsync();
            foreach (var region in await mesh.ListFleetSummariesAsync())
            {
                var drifting = region.Models.Where(m => m.Drifting > 0).Select(m => $"{m.Model} on {m.Drifting}").ToArray();
                Console.WriteLine($"region {region.Region}: {region.Devices} devices, {region.Results} results, {region.Lost} lost; " +
                                  $"drifting: {(drifting.Length == 0 ? "none" : string.Join(", ", drifting))} (as of {region.At:yyyy-MM-dd HH:mm:ss})");
            }
            if (fleet.Length == 0)
            {
                Console.WriteLine("no devices registered in this region");
                return ExitCodes.Ok;
            }
            Console.WriteLine("DEVICE            HOME      MODELS                RESULTS   OUTBOX  LAST SYNC             DRIFT");
            foreach (var d in fleet)
            {
                var drifting = string.Join(",", d.Drifting ?? []);
                Console.WriteLine($"{d.Id,-16}  {d.HomeRegion,-8}  {string.Join(",", d.Models),-20}  {d.Sync?.Results ?? 0,7}  {d.Reported.GetValueOrDefault("outbox.depth", "-"),7}  " +
                                  $"{(d.Sync?.LastSyncAt is { } at ? at.ToString("yyyy-MM-dd HH:mm:ss") : "never"),-20}  {(drifting.Length == 0 ? "-" : drifting)}");
            }
            return ExitCodes.Ok;
        }));
        return devices;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine("error: " + message);
        return ExitCodes.Usage;
    }

    private static void Print(DeviceInfo device)
    {
        Console.WriteLine($"device {device.Id}: home region {device.HomeRegion}, registered {device.RegisteredAt:u}");
        Console.WriteLine($"models: {(device.Models.Length == 0 ? "none" : string.Join(", ", device.Models))}");
        if (device.Sync is { } sync)
        {
            Console.WriteLine($"results: {sync.Results} synced, applied through {sync.AppliedThrough}, {sync.Lost} lost on the device, {sync.MissingCount} missing, " +
                              $"last sync {(sync.LastSyncAt is { } at ? at.ToString("u") : "never")}");
        }
        if (device.Drifting is { Length: > 0 } drifting) Console.WriteLine($"drifting: {string.Join(", ", drifting)} (see `mesh drift MODEL`)");
        Console.WriteLine("desired:" + (device.Desired.Count == 0 ? " none" : ""));
        foreach (var (key, value) in device.Desired.OrderBy(p => p.Key, StringComparer.Ordinal)) Console.WriteLine($"  {key} = {value}");
        Console.WriteLine("reported:" + (device.Reported.Count == 0 ? " none" : ""));
        foreach (var (key, value) in device.Reported.OrderBy(p => p.Key, StringComparer.Ordinal)) Console.WriteLine($"  {key} = {value}");
    }
}
