using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Mesh.IntegrationTests.Infrastructure;

/// <summary>
/// A program of this repository run as its own process from its build output (the same configuration and
/// platform folder as these tests), with its output captured.
/// </summary>
public sealed partial class MeshProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private MeshProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }
    public bool HasExited => _process.HasExited;

    /// <summary>The process's resident memory now, in bytes (VmRSS from /proc).</summary>
    public long ResidentBytes
    {
        get
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
    }

    /// <summary>The process's stdin (for programs that read JSON lines).</summary>
    public StreamWriter Input => _process.StandardInput;
    public int ExitCode => _process.ExitCode;

    private const string OutputMarker = "/tests/Mesh.IntegrationTests/bin/";

    private static int MarkerAt
    {
        get
        {
            var at = AppContext.BaseDirectory.Replace('\\', '/').IndexOf(OutputMarker, StringComparison.Ordinal);
            return at >= 0 ? at : throw new InvalidOperationException($"tests run from {AppContext.BaseDirectory}, not from their build output");
        }
    }

    /// <summary>The repository's root folder (where Mesh.sln and README.md are).</summary>
    public static string RepositoryRoot => AppContext.BaseDirectory[..MarkerAt];

    /// <summary>Path of a project's built assembly, e.g. ("silos/Mesh.Silo", "Mesh.Silo.dll").</summary>
    public static string BuiltAssembly(string project, string assembly)
    {
        var here = AppContext.BaseDirectory;
        var path = Path.Combine(RepositoryRoot, project, "bin", here[(MarkerAt + OutputMarker.Length)..], assembly);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{assembly} is not built (looked at {path}); build Mesh.sln first", path);
    }

    public static MeshProcess Start(string assembly, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null) =>
        Launch("dotnet", [assembly, .. args], environment, workingDirectory);

    private static MeshProcess Launch(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment, string? workingDirectory)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        return new MeshProcess(Process.Start(start)!);
    }

    /// <summary>A bash script run as its own process (its whole process tree is killed on dispose).</summary>
    public static MeshProcess StartShell(string script, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null) =>
        Launch("bash", ["-c", script], environment, workingDirectory);

    /// <summary>The lines of the README's code block that follows <paramref name="marker"/>.</summary>
    public static string[] ReadmeBlock(string marker)
    {
        var readme = File.ReadAllLines(Path.Combine(RepositoryRoot, "README.md"));
        var start = Array.FindIndex(readme, l => l.Contains(marker, StringComparison.Ordinal));
        if (start < 0 || !readme[start + 1].StartsWith("```", StringComparison.Ordinal))
            throw new InvalidOperationException($"README has no code block marked {marker}");
        return readme.Skip(start + 2).TakeWhile(l => !l.StartsWith("```", StringComparison.Ordinal)).ToArray();
    }

    /// <summary>`git status --porcelain` of the repository.</summary>
    public static async Task<string> GitStatusAsync()
    {
        await using var git = StartShell("git status --porcelain", workingDirectory: RepositoryRoot);
        await git.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return git.Stdout;
    }

    /// <summary>Runs the mesh CLI to completion (bounded by a minute) and returns its exit code and output.</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunCliAsync(params string[] args) => RunCliAsync(null, args);

    /// <summary>The CLI with <paramref name="environment"/> added to this process's (keys, certificates).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunCliAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        await using var cli = Start(BuiltAssembly("clients/Mesh.Cli", "mesh.dll"), args, environment);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await cli._process.WaitForExitAsync(timeout.Token);
        cli._process.WaitForExit(); // drains the redirected output
        return (cli.ExitCode, cli.Stdout, cli.Stderr);
    }

    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Stdout.Contains(text, StringComparison.Ordinal) && !Stderr.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"process exited ({_process.ExitCode}) before printing '{text}'.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no '{text}' within {timeout}.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
            await Task.Delay(50);
        }
    }

    /// <summary>Sends SIGTERM, as a service manager does, and waits for the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        if (kill(_process.Id, 15) != 0) throw new InvalidOperationException($"kill failed: {Marshal.GetLastPInvokeError()}");
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>
    /// The model versions that answer up to 200 MLP predicts (zeros) to a silo's HTTP gateway, stopping once
    /// <paramref name="enough"/> distinct versions have answered. Every predict must succeed.
    /// </summary>
    public static async Task<string[]> ServedVersionsAsync(int httpPort, string model, int enough)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        var body = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", new float[64])}}]}]}""";
        var served = new HashSet<string>();
        for (var i = 0; i < 200 && served.Count < enough; i++)
        {
            using var answer = await http.PostAsync($"v2/models/{model}/infer", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            var text = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.IsSuccessStatusCode, text);
            served.Add(System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("model_version").GetString()!);
        }
        return served.Order().ToArray();
    }

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// Environment for a silo process with its Orleans gateway and HTTP gateway on the ports given, its data in
    /// <paramref name="data"/>, and the silo-to-silo and gRPC ports free ones; callers add what their test needs.
    /// </summary>
    public static Dictionary<string, string> SiloSettings(int gatewayPort, int httpPort, string data) => new()
    {
        ["Mesh__Silo__SiloPort"] = FreePort().ToString(),
        ["Mesh__Silo__GatewayPort"] = gatewayPort.ToString(),
        ["Mesh__Gateway__HttpPort"] = httpPort.ToString(),
        ["Mesh__Gateway__GrpcPort"] = FreePort().ToString(),
        ["Mesh__Storage__DataDirectory"] = data,
    };

    /// <summary>Adds API keys (name, key, role) to a silo's settings, as Mesh:Gateway:ApiKeys holds them (hashed).</summary>
    public static void AddApiKeys(Dictionary<string, string> settings, params (string Name, string Key, string Role)[] keys)
    {
        for (var i = 0; i < keys.Length; i++)
        {
            settings[$"Mesh__Gateway__ApiKeys__{i}__Name"] = keys[i].Name;
            settings[$"Mesh__Gateway__ApiKeys__{i}__Sha256"] = Mesh.Protocol.ApiKeys.Hash(keys[i].Key);
            settings[$"Mesh__Gateway__ApiKeys__{i}__Role"] = keys[i].Role;
        }
    }

    /// <summary>
    /// Environment for a silo process of region <paramref name="cluster"/> with one peer region (as
    /// <see cref="SiloSettings"/>), Prometheus on; callers add what their test needs.
    /// </summary>
    public static Dictionary<string, string> RegionSiloSettings(string cluster, int gatewayPort, int httpPort, string data, string peer, int peerGateway) =>
        new(SiloSettings(gatewayPort, httpPort, data))
        {
            ["Mesh__Silo__ClusterId"] = cluster,
            ["Mesh__Regions__Peers__0__Name"] = peer,
            ["Mesh__Regions__Peers__0__Gateway"] = $"127.0.0.1:{peerGateway}",
            ["Mesh__Telemetry__Prometheus__Enabled"] = "true",
        };

    /// <summary>
    /// Environment for an edge bridge process running the small MLP as "mlp" from <paramref name="data"/>, its local
    /// API on <paramref name="httpPort"/>, syncing every 100 ms to <paramref name="meshUrl"/> when given (offline
    /// otherwise); callers add what their test needs.
    /// </summary>
    public static Dictionary<string, string> EdgeBridgeSettings(string device, string data, int httpPort, string? meshUrl = null, string? token = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["Mesh__Edge__DeviceId"] = device,
            ["Mesh__Edge__DataDirectory"] = data,
            ["Mesh__Edge__HttpPort"] = httpPort.ToString(),
            ["Mesh__Edge__Models__0__Name"] = "mlp",
            ["Mesh__Edge__Models__0__Path"] = TestModels.PathOf("mlp-small.onnx"),
            ["Mesh__Edge__Sync__Interval"] = "00:00:00.100",
        };
        if (meshUrl is not null) (settings["Mesh__Edge__MeshUrl"], settings["Mesh__Edge__Token"]) = (meshUrl, token ?? "");
        return settings;
    }

    /// <summary>The sync token in what `mesh devices register` printed.</summary>
    public static string DeviceToken(string registerOutput) =>
        registerOutput.Split(' ', '\n').Single(w => w.StartsWith("mesh_", StringComparison.Ordinal)).Trim();

    /// <summary>
    /// A port free now, for a server a test starts later. Taken below Linux's ephemeral range (32768-60999): a port
    /// the OS handed out (port 0) can be taken meanwhile as the source port of any outgoing connection, which made
    /// a silo fail to bind under parallel tests. Never the same port twice in one test run.
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            lock (HandedOut)
            {
                if (!HandedOut.Add(port)) continue;
            }
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // In use by something else: pick another.
            }
        }
    }

    private bool _disposed;

    // Idempotent: a test kills a process on purpose and its own clean-up disposes it again.
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
