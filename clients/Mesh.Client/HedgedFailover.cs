namespace Mesh.Client;

/// <summary>
/// One predict over several regions, as a pure algorithm (the clock is given, so a fake one tests it):
/// <list type="bullet">
/// <item>the first region in the order is tried; a region failure moves to the next at once;</item>
/// <item>a region that has not answered within its hedge delay gets company: the next region is tried too, and
/// the first answer wins (a predict is idempotent, so a duplicate costs only compute);</item>
/// <item>an error about the request itself (not a region failure) ends the predict: another region would say the same.</item>
/// </list>
/// </summary>
internal static class HedgedFailover
{
    /// <summary>
    /// Runs <paramref name="attempt"/> on the regions of <paramref name="order"/> (indexes) as described; returns the
    /// index that answered and its answer, or throws <see cref="AggregateException"/> of every region's failure.
    /// <paramref name="failed"/> hears of each region failure as it happens.
    /// </summary>
    public static async Task<(int Region, T Answer)> RunAsync<T>(
        IReadOnlyList<int> order,
        Func<int, CancellationToken, Task<T>> attempt,
        Func<int, TimeSpan> hedgeDelay,
        Func<Exception, bool> isRegionFailure,
        TimeProvider clock,
        Action<int, Exception>? failed = null,
        CancellationToken cancellation = default)
    {
        if (order.Count == 0) throw new ArgumentException("no region to try", nameof(order));
        using var done = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var running = new Dictionary<Task<T>, int>();
        var failures = new List<Exception>();
        var next = 0;

        void Start()
        {
            var region = order[next++];
            running[attempt(region, done.Token)] = region;
        }

        Start();
        try
        {
            while (running.Count > 0)
            {
                // Waits for an answer, and for the newest attempt's hedge delay when another region is left.
                var newest = order[next - 1];
                using var hedgeCancel = CancellationTokenSource.CreateLinkedTokenSource(done.Token);
                var hedge = next < order.Count ? Task.Delay(hedgeDelay(newest), clock, hedgeCancel.Token) : null;
                var finished = hedge is null
                    ? await Task.WhenAny(running.Keys)
                    : await Task.WhenAny(running.Keys.Cast<Task>().Append(hedge));
                hedgeCancel.Cancel();
                if (finished == hedge)
                {
                    Start();
                    continue;
                }
                var task = (Task<T>)finished;
                var region = running[task];
                running.Remove(task);
                try
                {
                    var answer = await task;
                    return (region, answer);
                }
                catch (Exception e) when (isRegionFailure(e) && !cancellation.IsCancellationRequested)
                {
                    failures.Add(e);
                    failed?.Invoke(region, e);
                    // Nothing else is running: the next region is tried at once, not after a delay.
                    if (running.Count == 0 && next < order.Count) Start();
                }
            }
            throw new AggregateException(failures);
        }
        finally
        {
            // The slower attempts are abandoned; their answers, if any, are not waited for.
            done.Cancel();
            foreach (var leftover in running.Keys) _ = leftover.ContinueWith(t => t.Exception, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// The hedge delay from a region's recent latencies: their 99th percentile, at least <paramref name="floor"/>
    /// and at most <paramref name="ceiling"/>; <paramref name="initial"/> until <paramref name="minimumSamples"/> are known.
    /// </summary>
    public static TimeSpan DelayFrom(IReadOnlyCollection<double> recentMilliseconds, TimeSpan initial, TimeSpan floor, TimeSpan ceiling, int minimumSamples = 20)
    {
        if (recentMilliseconds.Count < minimumSamples) return initial;
        var sorted = recentMilliseconds.Order().ToArray();
        var p99 = sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(sorted.Length * 0.99) - 1)];
        var delay = TimeSpan.FromMilliseconds(p99);
        return delay < floor ? floor : delay > ceiling ? ceiling : delay;
    }
}

/// <summary>The last N latencies of a region's answers, for its hedge delay (thread-safe).</summary>
internal sealed class LatencyWindow(int size = 256)
{
    private readonly double[] _samples = new double[size];
    private int _count;
    private int _next;
    private readonly object _gate = new();

    public void Add(double milliseconds)
    {
        lock (_gate)
        {
            _samples[_next] = milliseconds;
            _next = (_next + 1) % _samples.Length;
            _count = Math.Min(_count + 1, _samples.Length);
        }
    }

    public double[] Snapshot()
    {
        lock (_gate) return _samples.Take(_count).ToArray();
    }
}
