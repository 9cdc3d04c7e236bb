using System.Diagnostics;
using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Operations;

/// <summary>
/// Prometheus' own checker on the alert rules: `promtool check rules` for their syntax and `promtool test rules`
/// for what they fire on (docs/ops/mesh-alerts.test.yml). promtool comes from Debian's prometheus package, unpacked
/// into tests/tools/prometheus by .ci/run (nothing is installed or started).
/// </summary>
[Trait("Category", "Process")]
public class AlertRuleTests
{
    private static string Promtool()
    {
        var unpacked = Path.Combine(MeshProcess.RepositoryRoot, "tests", "tools", "prometheus", "usr", "bin", "promtool");
        if (File.Exists(unpacked)) return unpacked;
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "promtool")).FirstOrDefault(File.Exists);
        Assert.True(onPath is not null, $"promtool is needed: .ci/run unpacks Debian's prometheus package into {Path.GetDirectoryName(unpacked)} (apt-get download prometheus; dpkg-deb -x)");
        return onPath;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo(Promtool()) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = MeshProcess.RepositoryRoot };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    [Fact]
    public async Task Promtool_accepts_the_rules_and_they_fire_as_their_unit_tests_say()
    {
        var check = await RunAsync("check", "rules", "docs/ops/mesh-alerts.yml");
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("SUCCESS: 8 rules found", check.Output);

        var test = await RunAsync("test", "rules", "docs/ops/mesh-alerts.test.yml");
        Assert.True(test.ExitCode == 0, test.Output);
        Assert.Contains("SUCCESS", test.Output);
    }
}
