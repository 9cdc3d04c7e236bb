namespace Mesh.Client;

/// <summary>
/// Inference lanes (grain keys) that did not answer while the cluster settled after a lost gateway. Their
/// activations most likely lived on the dead silo, and until membership declares it dead the survivors still route
/// calls there; a predict sent again avoids them, so it is not sent to the same silent silo twice.
/// </summary>
public sealed class SuspectLanes(TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _until = new(StringComparer.Ordinal);
    // The latest end of any mark: every predict asks, and past it the answer needs no look-up (ConcurrentDictionary's
    // IsEmpty takes all its locks when the dictionary is empty, which is the usual case).
    private long _anyUntil = long.MinValue;

    /// <summary>Counts <paramref name="lane"/> as suspect for <paramref name="period"/> from now.</summary>
    public void Mark(string lane, TimeSpan period)
    {
        if (period <= TimeSpan.Zero) return;
        var until = _clock.GetTimestamp() + (long)(period.TotalSeconds * _clock.TimestampFrequency);
        _until.AddOrUpdate(lane, until, (_, old) => Math.Max(old, until));
        for (var seen = Volatile.Read(ref _anyUntil); seen < until; seen = Volatile.Read(ref _anyUntil))
            if (Interlocked.CompareExchange(ref _anyUntil, until, seen) == seen) break;
    }

    public bool IsSuspect(string lane)
    {
        var anyUntil = Volatile.Read(ref _anyUntil);
        if (anyUntil == long.MinValue) return false;
        var now = _clock.GetTimestamp();
        if (now >= anyUntil || !_until.TryGetValue(lane, out var until)) return false;
        if (now < until) return true;
        _until.TryRemove(KeyValuePair.Create(lane, until));
        return false;
    }
}
