using System.Diagnostics;

namespace Mesh.Cli.Bench;

/// <summary>One load level's outcome, as perf_analyzer reports it: throughput, latency percentiles, errors.</summary>
public sealed record BenchResult(
    string Transport,
    int Concurrency,
    int RowsPerRequest,
    long Requests,
    long Errors,
    double Seconds,
    double RequestsPerSecond,
    double RowsPerSecond,
    double P50Ms,
    double P90Ms,
    double P99Ms,
    string? FirstError);

/// <summary>
/// Closed-loop load: <c>concurrency</c> workers each send a request, wait for the answer and send the next, until
/// the request count or the duration is reached (whichever is given; both bound the run).
/// </summary>
public static class LoadGenerator
{
    public static async Task<BenchResult> RunAsync(string transport, int concurrency, int rowsPerRequest, Func<Task> call,
        int? requests, TimeSpan? duration, int warmupRequests = 0)
    {
        for (var i = 0; i < warmupRequests; i++)
        {
            try { await call(); } catch { /* errors are counted in the measured run */ }
        }

        var budget = requests ?? int.MaxValue;
        var stopAt = duration is TimeSpan d ? Stopwatch.GetTimestamp() + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        var issued = 0L;
        var errors = 0L;
        string? firstError = null;
        var latencies = new List<double>[concurrency];
        var clock = Stopwatch.StartNew();

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            var mine = latencies[worker] = new List<double>(1024);
            while (Interlocked.Increment(ref issued) <= budget && Stopwatch.GetTimestamp() < stopAt)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await call();
                    mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, $"{e.GetType().Name}: {e.Message}", null);
                }
            }
        }));

        var seconds = clock.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        double Percentile(double p) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)Math.Ceiling(p * all.Length) - 1)];
        return new BenchResult(transport, concurrency, rowsPerRequest, all.Length, errors, seconds,
            all.Length / seconds, all.Length * rowsPerRequest / seconds, Percentile(0.50), Percentile(0.90), Percentile(0.99), firstError);
    }
}
