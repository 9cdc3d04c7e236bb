using System.Diagnostics;

namespace Mesh.Tests.Style;

/// <summary>The build enforces .editorconfig: a project under the repository's build settings fails on a named rule.</summary>
[Trait("Category", "Slow")]
public class StyleEnforcementTests
{
    private static string RepositoryRoot
    {
        get
        {
            var here = AppContext.BaseDirectory.Replace('\\', '/');
            var at = here.IndexOf("/tests/Mesh.Tests/bin/", StringComparison.Ordinal);
            return at >= 0 ? here[..at] : throw new InvalidOperationException($"tests run from {here}, not from their build output");
        }
    }

    [Theory]
    [InlineData("namespace Probe { public static class Thing { } }", "IDE0161")]
    [InlineData("namespace Probe;\npublic sealed class Thing { private int count; public int Next() => ++count; }", "IDE1006")]
    [InlineData("namespace Probe;\npublic sealed class Thing { int _count; public int Next() => ++_count; }", "IDE0040")]
    public async Task A_style_violation_named_by_editorconfig_fails_the_build(string source, string rule)
    {
        var folder = Path.Combine(Path.GetTempPath(), "mesh-tests", "style-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            foreach (var file in new[] { ".editorconfig", "Directory.Build.props", "Directory.Packages.props", "global.json" })
                File.Copy(Path.Combine(RepositoryRoot, file), Path.Combine(folder, file));
            await File.WriteAllTextAsync(Path.Combine(folder, "Probe.csproj"), "<Project Sdk=\"Microsoft.NET.Sdk\"><PropertyGroup><RuntimeIdentifier /></PropertyGroup></Project>");
            await File.WriteAllTextAsync(Path.Combine(folder, "Thing.cs"), source + "\n");

            var (exit, output) = await RunAsync(folder, "build", "-nologo", "-v", "q");
            Assert.NotEqual(0, exit);
            Assert.Contains($"error {rule}", output);
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<(int Exit, string Output)> RunAsync(string folder, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", args) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
