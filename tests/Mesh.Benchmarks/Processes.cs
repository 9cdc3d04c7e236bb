using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Mesh.Benchmarks;

/// <summary>A child process of the benchmark (the silo, the plain server), bounded in life by the benchmark.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();

    public ChildProcess(string assembly, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(assembly);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public async Task WaitForAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            lock (_output) if (_output.ToString().Contains(text)) return;
            if (_process.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"no '{text}': {_output}");
            await Task.Delay(50);
        }
    }

    /// <summary>Resident memory of the process now, in MiB (Linux /proc).</summary>
    public double ResidentMiB()
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmRSS:"));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private bool _disposed;

    // Idempotent: a benchmark kills a region's silo on purpose and its using block disposes it again.
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
    }
}

public static class Paths
{
    /// <summary>A project's build output beside this benchmark's (same configuration and platform).</summary>
    public static string Built(string project, string assembly)
    {
        var here = AppContext.BaseDirectory.Replace('\\', '/');
        const string marker = "/tests/Mesh.Benchmarks/bin/";
        var at = here.IndexOf(marker, StringComparison.Ordinal);
        return Path.Combine(here[..at], project, "bin", here[(at + marker.Length)..], assembly);
    }

    public static string Root
    {
        get
        {
            var here = AppContext.BaseDirectory.Replace('\\', '/');
            return here[..here.IndexOf("/tests/Mesh.Benchmarks/bin/", StringComparison.Ordinal)];
        }
    }
}
