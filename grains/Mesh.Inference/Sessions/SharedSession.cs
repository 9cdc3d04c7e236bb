namespace Mesh.Inference.Sessions;

/// <summary>
/// A session that runs may hold while its owner (a silo's pool, a device's model table) lets go of it: each run
/// takes a lease, the owner holds one of its own, and the session is disposed when the last lease is released. So
/// an unload or an over-the-air swap never disposes a session under a run in flight.
/// </summary>
public sealed class SharedSession(OnnxModelSession session)
{
    private int _leases = 1;   // the owner's, given up by Retire

    public OnnxModelSession Session { get; } = session;

    /// <summary>Takes a lease for one run; false once the session is retired and its last run has ended.</summary>
    public bool TryAcquire()
    {
        while (true)
        {
            var leases = Volatile.Read(ref _leases);
            if (leases == 0) return false;
            if (Interlocked.CompareExchange(ref _leases, leases + 1, leases) == leases) return true;
        }
    }

    /// <summary>Ends a run's lease.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _leases) == 0) Session.Dispose();
    }

    /// <summary>The owner lets go: the session is disposed now if no run holds it, else when the last one ends.</summary>
    public void Retire() => Release();
}
