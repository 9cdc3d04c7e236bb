namespace Mesh.Abstractions.Events;

/// <summary>
/// A hybrid logical clock reading packed in a long: milliseconds since the Unix epoch in the high 48 bits, a
/// counter in the low 16. Readings from one clock only grow, and a clock that has seen another region's reading
/// stamps after it, so "later" means the same in every region even when their wall clocks disagree a little.
/// Ties between regions are broken by region name (<see cref="EventStamp.Beats"/>).
/// </summary>
public static class HybridTimestamp
{
    private const int CounterBits = 16;

    public static long Pack(long milliseconds, int counter) => (milliseconds << CounterBits) | (uint)(counter & 0xFFFF);

}

/// <summary>A hybrid logical clock: thread-safe, one per process.</summary>
public sealed class HybridClock(TimeProvider time)
{
    private long _last;

    /// <summary>A reading later than every earlier reading and every observed one.</summary>
    public long Next()
    {
        while (true)
        {
            var last = Interlocked.Read(ref _last);
            var wall = HybridTimestamp.Pack(time.GetUtcNow().ToUnixTimeMilliseconds(), 0);
            var next = wall > last ? wall : last + 1;
            if (Interlocked.CompareExchange(ref _last, next, last) == last) return next;
        }
    }

    /// <summary>Takes in a reading from elsewhere, so that the next local reading comes after it.</summary>
    public void Observe(long stamp)
    {
        while (true)
        {
            var last = Interlocked.Read(ref _last);
            if (stamp <= last || Interlocked.CompareExchange(ref _last, stamp, last) == last) return;
        }
    }
}
