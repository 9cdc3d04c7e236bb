using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Mesh.IntegrationTests.Infrastructure;

/// <summary>
/// A real Azurite (Blob, Queue, Table) on loopback ports picked free, in memory, for the Azure tests. Installed
/// from npm into tests/azurite on first use (npm ci, against the committed lock file) when .ci/run has not done it
/// already; stopped with the fixture. A test that needs Azure Storage uses this; none is skipped for lack of it.
/// </summary>
public sealed class Azurite : IAsyncLifetime
{
    // Azurite's well-known development account: public, documented, loopback only.
    private const string Account = "devstoreaccount1";
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private static readonly SemaphoreSlim Install = new(1, 1);
    private Process? _process;

    public string ConnectionString { get; private set; } = "";

    public static string Folder => Path.Combine(MeshProcess.RepositoryRoot, "tests", "azurite");

    public async Task InitializeAsync()
    {
        var entry = await EnsureInstalledAsync();
        var (blob, queue, table) = (MeshProcess.FreePort(), MeshProcess.FreePort(), MeshProcess.FreePort());
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[]
                 {
                     entry,
                     "--blobHost", "127.0.0.1", "--blobPort", blob.ToString(),
                     "--queueHost", "127.0.0.1", "--queuePort", queue.ToString(),
                     "--tableHost", "127.0.0.1", "--tablePort", table.ToString(),
                     "--inMemoryPersistence", "--disableTelemetry", "--silent", "--skipApiVersionCheck", "--loose",
                 })
            start.ArgumentList.Add(arg);
        _process = Process.Start(start) ?? throw new InvalidOperationException("node did not start Azurite");
        var output = new System.Text.StringBuilder();
        _process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(30);
        foreach (var port in new[] { blob, queue, table })
        {
            while (!await AcceptsAsync(port))
            {
                if (_process.HasExited || DateTime.UtcNow > deadline)
                    throw new InvalidOperationException($"Azurite did not open port {port} within 30 s (exit: {(_process.HasExited ? _process.ExitCode : "running")}): {output}");
                await Task.Delay(100);
            }
        }
        ConnectionString = $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};" +
                           $"BlobEndpoint=http://127.0.0.1:{blob}/{Account};QueueEndpoint=http://127.0.0.1:{queue}/{Account};TableEndpoint=http://127.0.0.1:{table}/{Account};";
    }

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process?.Dispose();
        return Task.CompletedTask;
    }

    private static async Task<string> EnsureInstalledAsync()
    {
        var entry = Path.Combine(Folder, "node_modules", "azurite", "dist", "src", "azurite.js");
        await Install.WaitAsync();
        try
        {
            if (File.Exists(entry)) return entry;
            var npm = new ProcessStartInfo("npm") { WorkingDirectory = Folder, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { "ci", "--no-audit", "--no-fund" }) npm.ArgumentList.Add(arg);
            using var process = Process.Start(npm) ?? throw new InvalidOperationException("npm did not start");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0 || !File.Exists(entry))
                throw new InvalidOperationException($"npm ci in {Folder} failed ({process.ExitCode}): {await stdout}{await stderr}");
            return entry;
        }
        finally
        {
            Install.Release();
        }
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<Azurite>
{
    public const string Name = "azurite";
}
