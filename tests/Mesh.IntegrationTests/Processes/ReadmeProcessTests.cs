using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Processes;

/// <summary>
/// The README's tour and edge-bridge commands, run as written from the repository root in bash against a silo
/// process. Only addresses are this test's (the CLI's MESH_GATEWAY, the ports in the edge block) and the bridge's
/// data folder, so that a developer's own edge-data/ is left alone.
/// </summary>
[Trait("Category", "Process"), Trait("Category", "Slow")]
public class ReadmeProcessTests : SiloProcessTest
{
    [Fact]
    public async Task The_tour_runs_as_written_and_leaves_the_checkout_clean()
    {
        var before = await MeshProcess.GitStatusAsync();
        await WaitForSampleAsync();
        // Aliases are expanded only in interactive shells unless asked; -e: every command must succeed (the one
        // that shows a refusal says `|| true` in the README).
        var script = "set -eo pipefail\nshopt -s expand_aliases\n" + string.Join("\n", MeshProcess.ReadmeBlock("<!-- tour: run by tests -->"));
        await using var tour = MeshProcess.StartShell(script, new Dictionary<string, string> { ["MESH_GATEWAY"] = Gateway }, MeshProcess.RepositoryRoot);
        var exit = await tour.WaitForExitAsync(TimeSpan.FromMinutes(6));
        Assert.True(exit == 0, $"the tour stopped with exit code {exit}\nstdout:\n{tour.Stdout}\nstderr:\n{tour.Stderr}");
        Assert.Contains("deployed fraud version 1", tour.Stdout);
        Assert.Contains("PredictedLabel.output: bool [1,1]", tour.Stdout);
        Assert.Contains("error: input 'input': dimension 1 must be 64, got 3 (expected shape [-1,64], got [1,3])", tour.Stderr);
        Assert.Contains("deployed mlp version 2", tour.Stdout);
        Assert.Contains("model mlp: rolled back; version 1 takes all traffic", tour.Stdout);
        Assert.Contains("model.traffic-split-set", tour.Stdout);
        Assert.Equal(before, await MeshProcess.GitStatusAsync());
    }

    [Fact]
    public async Task The_edge_bridge_commands_run_as_written_from_the_repositoryRoot_and_answer_locally()
    {
        var before = await MeshProcess.GitStatusAsync();
        await WaitForSampleAsync();
        var edgePort = MeshProcess.FreePort();
        var block = MeshProcess.ReadmeBlock("<!-- edge bridge: run by tests -->")
            .Select(l => l.Replace("127.0.0.1:8000", $"127.0.0.1:{HttpPort}").Replace("127.0.0.1:8100", $"127.0.0.1:{edgePort}"));
        // The tour's `mesh` alias, as the built CLI; the script then waits on the bridge it started in the background.
        var mesh = MeshProcess.BuiltAssembly("clients/Mesh.Cli", "mesh.dll");
        var script = $"set -eo pipefail\nmesh() {{ dotnet '{mesh}' \"$@\"; }}\n" + string.Join("\n", block) + "\necho 'edge block done'\nwait\n";
        var environment = new Dictionary<string, string>
        {
            ["MESH_GATEWAY"] = Gateway,
            ["Mesh__Edge__HttpPort"] = edgePort.ToString(),
            ["Mesh__Edge__DataDirectory"] = Path.Combine(Root, "edge-data"),
        };
        await using (var edge = MeshProcess.StartShell(script, environment, MeshProcess.RepositoryRoot))
        {
            await edge.WaitForOutputAsync("edge block done", TimeSpan.FromMinutes(3));
            Assert.Contains("\"model_name\":\"mlp\"", edge.Stdout);
            Assert.Contains("\"device\":\"cam-1\"", edge.Stdout);
            Assert.Contains("device cam-1: home region local", edge.Stdout);
            Assert.Contains("cam-1", edge.Stdout[edge.Stdout.LastIndexOf("DEVICE", StringComparison.Ordinal)..]);
            Assert.DoesNotContain("error", edge.Stderr, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(before, await MeshProcess.GitStatusAsync());
    }
}
