using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Mesh.Abstractions.Events;
using Mesh.Client;

namespace Mesh.Cli;

/// <summary>The read side from the command line: the event feed, the audit log, rebuilding a read model.</summary>
internal static class EventCommands
{
    public static IEnumerable<Command> Build(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        yield return Events(run);
        yield return Audit(run);
        yield return Projection(run);
        yield return Regions(run);
    }

    private static Command Regions(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var peer = new Argument<string>("PEER") { Description = "Peer region" };
        var pause = new Command("pause", "Stop shipping events to a peer (both regions keep serving and writing)") { peer };
        pause.SetAction((parse, _) => run(parse, async mesh =>
        {
            await mesh.SetReplicationPausedAsync(parse.GetValue(peer)!, true);
            Console.WriteLine($"replication to {parse.GetValue(peer)} paused");
            return ExitCodes.Ok;
        }));
        var resume = new Command("resume", "Ship to a peer again, everything written meanwhile first") { peer };
        resume.SetAction((parse, _) => run(parse, async mesh =>
        {
            await mesh.SetReplicationPausedAsync(parse.GetValue(peer)!, false);
            Console.WriteLine($"replication to {parse.GetValue(peer)} resumed");
            return ExitCodes.Ok;
        }));
        var command = new Command("regions", "This region, its replication links (position shipped to each peer, events behind, last error) and the failovers it took over") { pause, resume };
        command.SetAction((parse, _) => run(parse, async mesh =>
        {
            var region = await mesh.GetRegionStatusAsync();
            Console.WriteLine($"region {region.Name}: feed at position {region.HeadPosition}, {region.Peers.Length} peer(s)");
            if (region.Peers.Length == 0) return ExitCodes.Ok;
            Console.WriteLine("PEER        SHIPPED   BEHIND  EVENTS SENT  LAST SHIPPED              STATE");
            foreach (var p in region.Peers)
            {
                var state = p.Paused ? "paused" : p.LastError is null ? "ok" : "failing: " + p.LastError;
                Console.WriteLine($"{p.Peer,-10}  {p.ShippedPosition,7}  {p.HeadPosition - p.ShippedPosition,7}  {p.EventsShipped,11}  {p.LastShippedAt?.ToString("yyyy-MM-dd HH:mm:ss.fff") ?? "-",-23}  {state}");
            }
            // As clients report them with their probes: predicts answered here because the region they prefer failed.
            var taken = region.FailoversTaken ?? [];
            Console.WriteLine(taken.Length == 0
                ? "failovers taken over: none"
                : "failovers taken over: " + string.Join(", ", taken.Select(f => $"from {f.From} {f.Predicts}" + (f.LastAt is { } at ? $" (last reported {at:yyyy-MM-dd HH:mm:ss})" : ""))));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Events(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var from = new Option<string>("--from") { Description = "Position to start at: a number, 'start' (the first event) or 'now' (only new ones)", DefaultValueFactory = _ => "start" };
        var stream = new Option<string?>("--stream") { Description = "Only streams starting with this, e.g. model/fraud" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep waiting for new events (Ctrl-C to stop)" };
        var json = new Option<bool>("--json") { Description = "One JSON object per event and line, payload included" };
        var tail = new Command("tail", "Print the region's events in feed order") { from, stream, follow, json };
        tail.SetAction((parse, cancellation) =>
        {
            var text = parse.GetValue(from)!;
            long? start = text switch
            {
                "start" => 1,
                "now" => null,
                _ when long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p >= 1 => p,
                _ => -1,
            };
            if (start == -1)
                return Task.FromResult(MeshConnection.Fail(ExitCodes.Usage, $"--from: '{text}' is not a position (1 or more), 'start' or 'now'"));
            return run(parse, async mesh =>
            {
                if (!parse.GetValue(json)) Console.WriteLine("POSITION  TIME                     STREAM                VERSION  TYPE                      ACTOR      REGION");
                await foreach (var e in mesh.ReadEventsAsync(start, parse.GetValue(stream), parse.GetValue(follow), cancellation))
                {
                    Console.WriteLine(parse.GetValue(json)
                        ? JsonSerializer.Serialize(new { e.Position, e.Stream, e.Version, e.Type, e.SchemaVersion, e.Timestamp, e.Actor, e.Region, e.Id, Data = JsonDocument.Parse(e.Data).RootElement })
                        : $"{e.Position,8}  {e.Timestamp:yyyy-MM-dd HH:mm:ss.fff}  {e.Stream,-20}  {e.Version,7}  {e.Type,-24}  {e.Actor,-9}  {e.Region}");
                }
                return ExitCodes.Ok;
            });
        });
        var command = new Command("events", "The region's event feed (every change of state, in order)") { tail };
        return command;
    }

    private static Command Audit(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var model = new Option<string?>("--model") { Description = "Only changes to this model" };
        var actor = new Option<string?>("--actor") { Description = "Only changes made by this actor (API key name or client id)" };
        var limit = new Option<int>("--limit", "-n") { Description = "Newest entries to show", DefaultValueFactory = _ => 50 };
        var command = new Command("audit", "Who changed what, when and where (newest last)") { model, actor, limit };
        command.SetAction((parse, _) => run(parse, async mesh =>
        {
            var entries = await mesh.GetAuditAsync(parse.GetValue(model), parse.GetValue(actor), parse.GetValue(limit));
            Console.WriteLine("POSITION  TIME                 ACTOR      REGION  STREAM                CHANGE");
            foreach (var e in entries)
                Console.WriteLine($"{e.Position,8}  {e.Time:yyyy-MM-dd HH:mm:ss}  {e.Actor,-9}  {e.Region,-6}  {e.Stream,-20}  {e.Summary}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Projection(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var name = new Argument<string>("NAME") { Description = "catalog, audit or usage" };
        name.AcceptOnlyFromAmong("catalog", "audit", "usage", "fleet");
        var rebuild = new Command("rebuild", "Drop a read model and fold it again from the event store") { name };
        rebuild.SetAction((parse, _) => run(parse, async mesh =>
        {
            var position = await mesh.RebuildProjectionAsync(parse.GetValue(name)!);
            Console.WriteLine($"projection {parse.GetValue(name)} rebuilt up to position {position}");
            return ExitCodes.Ok;
        }));
        return new Command("projection", "Read models folded from the event feed") { rebuild };
    }
}
