using System.CommandLine;
using Mesh.Abstractions.Grains;
using Mesh.Client;

namespace Mesh.Cli;

/// <summary>Edge devices from the command line: register one (and get its sync token), show its twin and sync state.</summary>
internal static class DeviceCommands
{
    public static IEnumerable<Command> Build(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        yield return Device(run);
        yield return Devices(run);
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
        var register = new Command("register", "Register a device; the first registration prints its sync token, shown once") { id, home, models };
        register.SetAction((parse, _) => run(parse, async mesh =>
        {
            var device = await mesh.RegisterDeviceAsync(parse.GetValue(id)!, new DeviceRegistration(parse.GetValue(home)!, parse.GetValue(models) ?? []));
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
        return new Command("devices", "Register devices and issue their sync tokens") { register, token };
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
        Console.WriteLine("desired:" + (device.Desired.Count == 0 ? " none" : ""));
        foreach (var (key, value) in device.Desired.OrderBy(p => p.Key, StringComparer.Ordinal)) Console.WriteLine($"  {key} = {value}");
        Console.WriteLine("reported:" + (device.Reported.Count == 0 ? " none" : ""));
        foreach (var (key, value) in device.Reported.OrderBy(p => p.Key, StringComparer.Ordinal)) Console.WriteLine($"  {key} = {value}");
    }
}
