namespace Mesh.Grains.Devices;

/// <summary>An inclusive run of sequence numbers.</summary>
public readonly record struct SequenceRange(long From, long To)
{
    public long Count => To - From + 1;
}

/// <summary>
/// A set of sequence numbers kept as disjoint, sorted, non-adjacent ranges, so a declared loss of millions of
/// numbers (or one ending at long.MaxValue) costs one entry, not one per number.
/// </summary>
public sealed class SequenceRanges
{
    /// <summary>The ranges, sorted and merged (public for the snapshot's serializer).</summary>
    public List<SequenceRange> Ranges { get; set; } = [];

    public bool IsEmpty => Ranges.Count == 0;

    /// <summary>How many numbers the set holds (saturating: a set cannot hold more than long.MaxValue).</summary>
    public long Count
    {
        get
        {
            long total = 0;
            foreach (var range in Ranges) total = total > long.MaxValue - range.Count ? long.MaxValue : total + range.Count;
            return total;
        }
    }

    /// <summary>The highest number held; 0 when empty.</summary>
    public long Max => Ranges.Count == 0 ? 0 : Ranges[^1].To;

    public bool Contains(long sequence)
    {
        var at = IndexAtOrBefore(sequence);
        return at >= 0 && Ranges[at].To >= sequence;
    }

    /// <summary>Adds every number of [from, to], merging with the ranges it touches.</summary>
    public void Add(long from, long to)
    {
        if (to < from) return;
        var at = IndexAtOrBefore(from);
        // Start at the first range that overlaps or touches [from, to].
        var first = at >= 0 && Ranges[at].To >= from - 1 ? at : at + 1;
        var last = first;
        while (last < Ranges.Count && Ranges[last].From - 1 <= to)
        {
            from = Math.Min(from, Ranges[last].From);
            to = Math.Max(to, Ranges[last].To);
            last++;
        }
        Ranges.RemoveRange(first, last - first);
        Ranges.Insert(first, new SequenceRange(from, to));
    }

    /// <summary>Removes every number up to <paramref name="through"/>.</summary>
    public void RemoveThrough(long through)
    {
        var drop = 0;
        while (drop < Ranges.Count && Ranges[drop].To <= through) drop++;
        Ranges.RemoveRange(0, drop);
        if (Ranges.Count > 0 && Ranges[0].From <= through) Ranges[0] = Ranges[0] with { From = through + 1 };
    }

    /// <summary>Takes the range starting at <paramref name="from"/> out, if there is one; its end, or null.</summary>
    public long? TakeRangeStartingAt(long from)
    {
        if (Ranges.Count == 0 || Ranges[0].From != from) return null;
        var to = Ranges[0].To;
        Ranges.RemoveAt(0);
        return to;
    }

    // Index of the last range whose start is at or before the number; -1 if none.
    private int IndexAtOrBefore(long sequence)
    {
        int low = 0, high = Ranges.Count - 1, found = -1;
        while (low <= high)
        {
            var mid = low + (high - low) / 2;
            if (Ranges[mid].From <= sequence) { found = mid; low = mid + 1; }
            else high = mid - 1;
        }
        return found;
    }
}
