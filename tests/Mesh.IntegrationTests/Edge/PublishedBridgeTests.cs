using System.Text.Json;
using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Edge;

/// <summary>
/// The bridge as it is published for a device (the linux-x64 profile: self-contained and trimmed): no Orleans
/// assembly may ship in it, and the binary itself answers a local predict and keeps the result.
/// </summary>
[Trait("Category", "Process"), Trait("Category", "Edge"), Trait("Category", "Publish")]
public sealed class PublishedBridgeTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mesh-tests", $"publish-{Guid.NewGuid():N}");

    [Fact, System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_published_bridge_holds_no_Orleans_assembly_and_its_binary_answers_a_local_predict()
    {
        var output = Path.Combine(_root, "bridge");
        await using (var publish = MeshProcess.StartShell(
            $"dotnet publish edge-bridge/Mesh.EdgeBridge -p:PublishProfile=linux-x64 -o '{output}' --nologo --disable-build-servers",
            workingDirectory: MeshProcess.RepositoryRoot))
        {
            await publish.WaitForExitAsync(TimeSpan.FromMinutes(5));
            Assert.True(publish.ExitCode == 0, publish.Stdout + publish.Stderr);
        }
        var files = Directory.GetFiles(output).Select(Path.GetFileName).ToArray();
        Assert.Contains("mesh-edge", files);
        // The check the issue asks for: the device gets the runtime, not Orleans.
        Assert.DoesNotContain(files, f => f!.StartsWith("Orleans", StringComparison.OrdinalIgnoreCase) || f.StartsWith("Microsoft.Orleans", StringComparison.OrdinalIgnoreCase));

        var port = MeshProcess.FreePort();
        var settings = MeshProcess.EdgeBridgeSettings("cam-pub", Path.Combine(_root, "data"), port);
        await using var bridge = MeshProcess.StartShell($"exec '{Path.Combine(output, "mesh-edge")}'", settings);
        await bridge.WaitForOutputAsync("Mesh edge bridge ready:", TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        var body = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", Enumerable.Repeat("0.5", 64))}}]}]}""";
        using var answer = await http.PostAsync("v2/models/mlp/infer", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
        Assert.Equal("1", answer.Headers.GetValues("Mesh-Result-Sequence").Single());
        var status = JsonDocument.Parse(await http.GetStringAsync("v2/edge/status")).RootElement;
        Assert.Equal(1, status.GetProperty("outbox_depth").GetInt64());
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
