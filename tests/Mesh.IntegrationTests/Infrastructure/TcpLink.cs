using System.Net;
using System.Net.Sockets;

namespace Mesh.IntegrationTests.Infrastructure;

/// <summary>
/// A TCP forwarder on loopback standing for the network between two processes, so a test can cut it: a cut
/// resets every open connection and drops new ones unanswered (a black hole, as a partitioned network behaves:
/// the caller learns of it by its own timeout), until <see cref="Heal"/>. No iptables here (docs/measurements.md).
/// </summary>
public sealed class TcpLink : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _open = [];
    private readonly Task _accepting;
    private volatile bool _cut;

    public TcpLink(int targetPort, int? port = null)
    {
        _target = new IPEndPoint(IPAddress.Loopback, targetPort);
        _listener = new TcpListener(IPAddress.Loopback, port ?? MeshProcess.FreePort());
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    /// <summary>The port to give the caller instead of the target's.</summary>
    public int Port { get; }

    /// <summary>Added to every chunk carried, each way: a far-away region.</summary>
    public TimeSpan Delay { get; set; }

    public void Cut()
    {
        _cut = true;
        lock (_open)
        {
            foreach (var client in _open)
            {
                try { client.Client?.LingerState = new LingerOption(true, 0); } catch (Exception e) when (e is ObjectDisposedException or SocketException) { }
                client.Dispose();
            }
            _open.Clear();
        }
    }

    public void Heal() => _cut = false;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try { inbound = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (SocketException) { continue; }
            _ = CarryAsync(inbound);
        }
    }

    private async Task CarryAsync(TcpClient inbound)
    {
        if (_cut)
        {
            // Held open and silent until the cut heals or the link closes: nothing answers, as on a dead route.
            Track(inbound);
            return;
        }
        var outbound = new TcpClient();
        try
        {
            await outbound.ConnectAsync(_target, _stop.Token);
        }
        catch (Exception)
        {
            inbound.Dispose();
            outbound.Dispose();
            return;
        }
        Track(inbound);
        Track(outbound);
        using var both = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var up = PumpAsync(inbound, outbound, both.Token);
        var down = PumpAsync(outbound, inbound, both.Token);
        await Task.WhenAny(up, down);
        both.Cancel();
        inbound.Dispose();
        outbound.Dispose();
        lock (_open)
        {
            _open.Remove(inbound);
            _open.Remove(outbound);
        }
    }

    private void Track(TcpClient client)
    {
        lock (_open) _open.Add(client);
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, CancellationToken cancel)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            var source = from.GetStream();
            var sink = to.GetStream();
            while (true)
            {
                var read = await source.ReadAsync(buffer, cancel);
                if (read == 0) return;
                if (Delay > TimeSpan.Zero) await Task.Delay(Delay, cancel);
                await sink.WriteAsync(buffer.AsMemory(0, read), cancel);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or SocketException or InvalidOperationException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        Cut();
        try { await _accepting; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
