using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Client;

namespace Mesh.Cli;

/// <summary>A model's lifecycle: promote, traffic (canary), shadow, rollback, retire, lineage.</summary>
internal static class LifecycleCommands
{
    public static IEnumerable<Command> Build(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        yield return Promote(run);
        yield return Traffic(run);
        yield return Shadow(run);
        yield return Rollback(run);
        yield return Retire(run);
        yield return Lineage(run);
    }

    private static Argument<string> ModelName() => new("NAME") { Description = "Model name" };

    private static Command Promote(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var name = ModelName();
        var version = new Argument<int>("VERSION") { Description = "Version to give all traffic" };
        var command = new Command("promote", "Give a version all traffic (it answers every predict that names no version)") { name, version };
        command.Aliases.Add("default");
        command.SetAction((parse, _) => run(parse, async mesh =>
        {
            var model = await mesh.PromoteAsync(parse.GetValue(name)!, parse.GetValue(version));
            Console.WriteLine($"model {model.Name}: version {model.DefaultVersion} takes all traffic");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Traffic(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var name = ModelName();
        var weights = new Argument<string[]>("WEIGHTS") { Description = "vN=PERCENT for each version, summing to 100 (e.g. v2=10 v1=90)", Arity = ArgumentArity.OneOrMore };
        var command = new Command("traffic", "Split a model's traffic across versions by percent (canary)") { name, weights };
        command.SetAction((parse, _) =>
        {
            var parsed = new List<TrafficWeight>();
            foreach (var text in parse.GetValue(weights)!)
            {
                var parts = text.Split('=', 2);
                if (parts.Length != 2 || !int.TryParse(parts[0].TrimStart('v', 'V'), NumberStyles.None, CultureInfo.InvariantCulture, out var v)
                    || !int.TryParse(parts[1].TrimEnd('%'), NumberStyles.None, CultureInfo.InvariantCulture, out var percent))
                    return Task.FromResult(MeshConnection.Fail(ExitCodes.Usage, $"WEIGHTS: '{text}' is not vN=PERCENT (e.g. v2=10)"));
                parsed.Add(new TrafficWeight(v, percent));
            }
            return run(parse, async mesh =>
            {
                var model = await mesh.SetTrafficAsync(parse.GetValue(name)!, parsed.ToArray());
                Console.WriteLine($"model {model.Name}: traffic {DescribeTraffic(model)}");
                return ExitCodes.Ok;
            });
        });
        return command;
    }

    private static Command Shadow(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var name = ModelName();
        var version = new Argument<string>("VERSION") { Description = "Version that gets a copy of every predict (vN or N), or 'off'" };
        var command = new Command("shadow", "Copy every predict to a version and compare its answers (mesh.shadow.comparisons)") { name, version };
        command.SetAction((parse, _) =>
        {
            var text = parse.GetValue(version)!;
            int? shadow = null;
            if (!text.Equals("off", StringComparison.OrdinalIgnoreCase))
            {
                if (!int.TryParse(text.TrimStart('v', 'V'), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                    return Task.FromResult(MeshConnection.Fail(ExitCodes.Usage, $"VERSION: '{text}' is not a version (vN or N) or 'off'"));
                shadow = v;
            }
            return run(parse, async mesh =>
            {
                var model = await mesh.SetShadowAsync(parse.GetValue(name)!, shadow);
                Console.WriteLine(model.ShadowVersion is int s ? $"model {model.Name}: version {s} shadows every predict" : $"model {model.Name}: no shadow");
                return ExitCodes.Ok;
            });
        });
        return command;
    }

    private static Command Rollback(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var name = ModelName();
        var command = new Command("rollback", "Give all traffic back to the last version that had all of it") { name };
        command.SetAction((parse, _) => run(parse, async mesh =>
        {
            var model = await mesh.RollbackAsync(parse.GetValue(name)!);
            Console.WriteLine($"model {model.Name}: rolled back; version {model.DefaultVersion} takes all traffic");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Retire(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var name = ModelName();
        var version = new Argument<int>("VERSION") { Description = "Version that stops serving" };
        var command = new Command("retire", "Retire a version: it refuses predicts from then on") { name, version };
        command.SetAction((parse, _) => run(parse, async mesh =>
        {
            var model = await mesh.RetireAsync(parse.GetValue(name)!, parse.GetValue(version));
            Console.WriteLine($"model {model.Name}: version {parse.GetValue(version)} retired");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Lineage(Func<ParseResult, Func<MeshClient, Task<int>>, Task<int>> run)
    {
        var name = ModelName();
        var command = new Command("lineage", "Show where each version of a model came from") { name };
        command.SetAction((parse, _) => run(parse, async mesh =>
        {
            var model = await mesh.GetModelAsync(parse.GetValue(name)!);
            var shadow = model.ShadowVersion is int s ? await ShadowTallyAsync(mesh, model.Name, s) : null;
            Console.WriteLine("VERSION  PARENT  SHA256            OPTIMIZATION  TRAINING DATA     STATE     NOTES");
            foreach (var v in model.Versions)
            {
                var l = v.Lineage ?? ModelLineage.None;
                var state = v.Retired ? "retired" : v.Version == model.DefaultVersion && model.Traffic is null ? "all" : model.Traffic?.FirstOrDefault(w => w.Version == v.Version) is { } w ? $"{w.Percent}%" : "-";
                var notes = NotesText(l.Notes);
                if (model.ShadowVersion == v.Version)
                {
                    state = "shadow";
                    notes = $"shadow {shadow!.Describe()}" + (notes.Length == 0 ? "" : "; " + notes);
                }
                Console.WriteLine($"{v.Version,7}  {l.ParentVersion?.ToString(CultureInfo.InvariantCulture) ?? "-",6}  {v.ArtifactSha256[..16]}  {l.Optimization ?? "-",-12}  {Short(l.TrainingDataHash),-16}  {state,-8}  {notes}");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>A shadow version's tally in this region (zeros before its first comparison).</summary>
    public static async Task<ShadowTally> ShadowTallyAsync(MeshClient mesh, string model, int shadowVersion) =>
        ShadowTally.Sum(shadowVersion, await mesh.GetShadowTalliesAsync(model));

    /// <summary>
    /// Notes as one line: `mesh optimize --deploy` keeps its whole validation report there as JSON, which the table
    /// shows as its headline figures (`mesh events tail --json` has the report itself).
    /// </summary>
    public static string NotesText(string? notes)
    {
        if (string.IsNullOrEmpty(notes)) return "";
        if (notes.StartsWith('{'))
        {
            try
            {
                using var json = JsonDocument.Parse(notes);
                var r = json.RootElement;
                if (r.TryGetProperty("sizeRatio", out var size) && r.TryGetProperty("batch1Speedup", out var speed) && r.TryGetProperty("minCosine", out var cosine))
                {
                    var top1 = r.TryGetProperty("top1Agreement", out var t) && t.ValueKind == JsonValueKind.Number ? $", top-1 {t.GetDouble():P1}" : "";
                    return string.Create(CultureInfo.InvariantCulture,
                        $"optimization report: {size.GetDouble():F2}x smaller, {speed.GetDouble():F2}x at batch 1, lowest cosine {cosine.GetDouble():F4}{top1}");
                }
            }
            catch (JsonException)
            {
                // Notes that only look like JSON are shown as they are.
            }
        }
        var line = notes.ReplaceLineEndings(" ");
        return line.Length <= 80 ? line : line[..77] + "...";
    }

    private static string Short(string? hash) => hash is null ? "-" : hash.Length > 16 ? hash[..16] : hash;

    public static string DescribeTraffic(ModelInfo model)
    {
        var text = model.Traffic is { } split
            ? string.Join(" ", split.Select(w => $"v{w.Version}={w.Percent}%"))
            : $"v{model.DefaultVersion}=100%";
        return model.ShadowVersion is int s ? $"{text}, shadow v{s}" : text;
    }
}
