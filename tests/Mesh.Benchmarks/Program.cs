using Mesh.Benchmarks;

// dotnet run -c Release --project tests/Mesh.Benchmarks [-- --report PATH] [--quick]
if (args is ["plain-server", var port, var model])
{
    await PlainServer.RunAsync(int.Parse(port), model);
    return 0;
}

// One section alone, printed and not written to the report: dotnet run -c Release --project tests/Mesh.Benchmarks -- edge [RESULTS]
if (args is ["optimize"])
{
    OptimizationBenchmark.Run(Suite.MiniLm(), TimeSpan.FromSeconds(1));
    return 0;
}
if (args is ["external", ..])
{
    Console.Write(await ExternalLoadBenchmark.RunAsync(TimeSpan.FromSeconds(args.Length > 1 ? int.Parse(args[1]) : 5)));
    return 0;
}
if (args is ["regions", ..])
{
    Console.Write(await RegionsBenchmark.RunAsync(TimeSpan.FromSeconds(args.Length > 1 ? int.Parse(args[1]) : 9)));
    return 0;
}
if (args is ["dashboard"])
{
    Console.Write(await new Suite(TimeSpan.FromSeconds(3)).DashboardOverheadAsync());
    return 0;
}
if (args is ["edge", ..])
{
    await EdgeBenchmark.RunAsync(TimeSpan.FromSeconds(3), args.Length > 1 ? int.Parse(args[1]) : 1_000_000);
    return 0;
}

var report = args.SkipWhile(a => a != "--report").Skip(1).FirstOrDefault() ?? Path.Combine(Paths.Root, "docs", "benchmarks.md");
var quick = args.Contains("--quick");
var suite = new Suite(quick ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(3));
var text = await suite.RunAsync();
// Notes written by hand below this marker (profiles, analysis) survive the next run.
const string kept = "<!-- notes below this line are kept across runs -->";
if (File.Exists(report) && (await File.ReadAllTextAsync(report)) is var old && old.IndexOf(kept, StringComparison.Ordinal) is var at and >= 0)
    text += old[at..];
await File.WriteAllTextAsync(report, text);
Console.WriteLine($"report written to {report}");
return 0;
