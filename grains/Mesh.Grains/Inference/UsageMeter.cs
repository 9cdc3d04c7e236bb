using System.Collections.Concurrent;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Grains.Events;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Mesh.Grains.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Inference;

/// <summary>
/// Usage per caller in this silo (the "pay per call" bill): requests, rows, compute and queue milliseconds. Counted
/// in memory on the hot path and recorded as an event (stream <c>usage/SILO</c>, summed by the usage projection) every <see cref="InferenceOptions.UsageFlushInterval"/>,
/// so metering costs a predict no grain call. The same numbers go out as metrics.
/// </summary>
public sealed class UsageMeter(EventJournal journal, ILocalSiloDetails silo, MeshMetrics metrics, IOptions<InferenceOptions> options, ILogger<UsageMeter> logger) : BackgroundService
{
    // This silo's own usage stream: a silo address holds its start time, so no other writer shares it.
    private readonly string _stream = EventStreams.Usage(silo.SiloAddress.ToString());
    private long _streamVersion;
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

    /// <summary>Records what was counted since the last flush; counts that fail to go are kept for the next.</summary>
    public async Task FlushAsync()
    {
        var taken = Interlocked.Exchange(ref _pending, new ConcurrentDictionary<string, Counters>(StringComparer.Ordinal));
        if (taken.IsEmpty) return;
        var records = taken.Select(e => { lock (e.Value) return new UsageRecord(e.Key, e.Value.Requests, e.Value.Rows, e.Value.ComputeMs, e.Value.QueueMs); }).ToArray();
        try
        {
            try
            {
                await journal.AppendAsync(_stream, _streamVersion, [new UsageRecorded(records)]);
            }
            catch (EventStreamConflictException conflict)
            {
                // Only after an append whose answer was lost yet which was stored: continue after it.
                _streamVersion = conflict.ActualVersion;
                throw;
            }
            _streamVersion++;
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Usage could not be recorded; kept for the next flush");
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
