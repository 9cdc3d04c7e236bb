using System.Collections.Concurrent;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Mesh.Grains.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Inference;

/// <summary>
/// Usage per caller in this silo (the "pay per call" bill): requests, rows, compute and queue milliseconds. Counted
/// in memory on the hot path and added to the mesh's ledger every <see cref="InferenceOptions.UsageFlushInterval"/>,
/// so metering costs a predict no grain call. The same numbers go out as metrics.
/// </summary>
public sealed class UsageMeter(IGrainFactory grains, MeshMetrics metrics, IOptions<InferenceOptions> options, ILogger<UsageMeter> logger) : BackgroundService
{
    public const string Anonymous = "anonymous";
    private ConcurrentDictionary<string, Counters> _pending = new(StringComparer.Ordinal);

    public void Record(string? caller, int requests, int rows, double computeMs, double queueMs)
    {
        caller = string.IsNullOrEmpty(caller) ? Anonymous : caller;
        Add(new UsageRecord(caller, requests, rows, computeMs, queueMs));
        metrics.Used(caller, requests, rows, computeMs, queueMs);
    }

    private void Add(UsageRecord usage)
    {
        var counters = _pending.GetOrAdd(usage.Caller, _ => new Counters());
        lock (counters)
        {
            counters.Requests += usage.Requests;
            counters.Rows += usage.Rows;
            counters.ComputeMs += usage.ComputeMs;
            counters.QueueMs += usage.QueueMs;
        }
    }

    /// <summary>Adds what was counted since the last flush to the ledger; counts that fail to go are kept for the next.</summary>
    public async Task FlushAsync()
    {
        var taken = Interlocked.Exchange(ref _pending, new ConcurrentDictionary<string, Counters>(StringComparer.Ordinal));
        if (taken.IsEmpty) return;
        var records = taken.Select(e => { lock (e.Value) return new UsageRecord(e.Key, e.Value.Requests, e.Value.Rows, e.Value.ComputeMs, e.Value.QueueMs); }).ToArray();
        try
        {
            await grains.GetGrain<IUsageLedgerGrain>(0).AddAsync(records);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Usage could not be added to the ledger; kept for the next flush");
            foreach (var record in records) Add(record);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.UsageFlushInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) await FlushAsync();
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private sealed class Counters
    {
        public long Requests;
        public long Rows;
        public double ComputeMs;
        public double QueueMs;
    }
}
