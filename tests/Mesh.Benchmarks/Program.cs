using Mesh.Benchmarks;

// dotnet run -c Release --project tests/Mesh.Benchmarks [-- --report PATH] [--quick]
if (args is ["plain-server", var port, var model])
{
    await PlainServer.RunAsync(int.Parse(port), model);
    return 0;
}

var report = args.SkipWhile(a => a != "--report").Skip(1).FirstOrDefault() ?? Path.Combine(Paths.Root, "docs", "benchmarks.md");
var quick = args.Contains("--quick");
var suite = new Suite(quick ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(3));
var text = await suite.RunAsync();
await File.WriteAllTextAsync(report, text);
Console.WriteLine($"report written to {report}");
return 0;
