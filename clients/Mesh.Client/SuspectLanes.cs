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

    /// <summary>Counts <paramref name="lane"/> as suspect for <paramref name="period"/> from now.</summary>
    public void Mark(string lane, TimeSpan period)
    {
        if (period <= TimeSpan.Zero) return;
        var until = _clock.GetTimestamp() + (long)(period.TotalSeconds * _clock.TimestampFrequency);
        _until.AddOrUpdate(lane, until, (_, old) => Math.Max(old, until));
    }

    public bool IsSuspect(string lane)
    {
        if (_until.IsEmpty || !_until.TryGetValue(lane, out var until)) return false;
        if (_clock.GetTimestamp() < until) return true;
        _until.TryRemove(KeyValuePair.Create(lane, until));
        return false;
    }
}
