namespace Mesh.IntegrationTests.Infrastructure;

/// <summary>
/// A test class with one silo process of its own (embedded default storage in a temporary folder, every port
/// free), started before its tests and killed after, and the CLI pointed at it.
/// </summary>
public abstract class SiloProcessTest : IAsyncLifetime
{
    protected int GatewayPort { get; } = MeshProcess.FreePort();
    protected int HttpPort { get; } = MeshProcess.FreePort();
    protected int GrpcPort { get; } = MeshProcess.FreePort();
    protected string Root { get; } = Path.Combine(Path.GetTempPath(), "mesh-tests", $"silo-{Guid.NewGuid():N}");
    protected string Gateway => $"127.0.0.1:{GatewayPort}";
    protected string Http => $"http://127.0.0.1:{HttpPort}";
    private MeshProcess? _silo;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Root);
        var settings = MeshProcess.SiloSettings(GatewayPort, HttpPort, Path.Combine(Root, "silo"));
        settings["Mesh__Gateway__GrpcPort"] = GrpcPort.ToString();
        _silo = MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [], settings);
        await _silo.WaitForOutputAsync("Mesh silo ready:", TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        if (_silo is not null) await _silo.DisposeAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    /// <summary>The CLI against this silo's Orleans gateway.</summary>
    protected Task<(int ExitCode, string Stdout, string Stderr)> Mesh(params string[] args) =>
        MeshProcess.RunCliAsync([.. args, "--gateway", Gateway]);

    /// <summary>Waits until the silo has deployed its bundled sample (it does so right after start).</summary>
    protected async Task WaitForSampleAsync()
    {
        for (var i = 0; i < 50; i++)
        {
            if ((await Mesh("models")).Stdout.Contains("mlp")) return;
            await Task.Delay(200);
        }
    }
}
