using System.Diagnostics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Telemetry;
using Mesh.Abstractions.Tensors;
using Mesh.Grains.Telemetry;
using Mesh.Inference.Validation;
using Microsoft.Extensions.Logging;

namespace Mesh.Grains.Inference;

/// <summary>
/// One model version's queue and dynamic batcher in one silo, as Triton's dynamic batcher works: requests are
/// checked against the signature before they queue (a bad one fails alone); the queue is bounded (full: refused at
/// once) with two priorities; when a runner is free, the oldest request and every compatible one behind it (same
/// trailing dimensions, same outputs, up to MaxBatchSize rows) become one ONNX Runtime run, whose outputs are split
/// back per request. A request whose deadline passes while queued is dropped unrun. A run that fails fails only its
/// own batch.
/// </summary>
internal sealed class VersionBatcher
{
    private readonly ModelVersionInfo _version;
    private readonly SessionPool _sessions;
    private readonly MeshMetrics _metrics;
    private readonly UsageMeter _usage;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly string _silo;
    private readonly bool _batchable;
    private readonly string[] _tensorOutputs;
    private readonly SemaphoreSlim _runners;
    private readonly int _runnerCount;
    private readonly SemaphoreSlim _arrivals = new(0);
    private readonly BatchQueue<Pending> _queue = new();
    private readonly object _gate = new();
    private ServingPolicy _policy = ServingPolicy.Default;
    private Task? _loop;
    private bool _retired;
    private readonly CancellationTokenSource _stop = new();
    private double _batchMilliseconds = 1;

    public VersionBatcher(ModelVersionInfo version, int runners, SessionPool sessions, MeshMetrics metrics, UsageMeter usage, TimeProvider clock, ILogger logger, string silo)
    {
        _version = version;
        _sessions = sessions;
        _metrics = metrics;
        _usage = usage;
        _clock = clock;
        _logger = logger;
        _silo = silo;
        _runnerCount = runners;
        _runners = new SemaphoreSlim(runners);
        var signature = version.Signature;
        _tensorOutputs = signature.Outputs.Where(o => o.Kind == ValueKind.Tensor).Select(o => o.Name).ToArray();
        _batchable = signature.IsBatchable;
    }

    /// <summary>
    /// Queues a request. With <paramref name="allowInline"/> and a runner free, the caller's turn runs the batch the
    /// queue gives at once; a caller submitting several requests together passes false, or the first would run alone.
    /// </summary>
    /// <returns>The answer to come, or null when this batcher was retired and a new one must take the request.</returns>
    public Task<PredictResponse>? TrySubmit(PredictRequest request, ServingPolicy policy, bool allowInline = true, int requests = 1)
    {
        _policy = policy;
        InputValidator.Validate(_version.Model, _version.Signature, request.Inputs);
        foreach (var output in request.Outputs ?? [])
        {
            if (Array.IndexOf(_tensorOutputs, output) < 0)
                throw new UnknownOutputException(_version.Model, output, _tensorOutputs);
        }

        var pending = new Pending(request, Rows(request), MeteredRows(request), BatchKey(request), _clock.GetTimestamp(), requests);
        var queued = new QueuedRequest<Pending>(pending, pending.Rows, pending.Key, _clock.GetUtcNow(), request.Priority, request.Deadline);
        List<Pending>? lead = null;
        bool waiting;
        lock (_gate)
        {
            if (_retired) return null;
            if (!_queue.TryEnqueue(queued, policy))
                throw new OverloadedException(_version.Model, _version.Version, policy.MaxQueueSize, RetryAfter(policy));
            _metrics.Queued(_version.Model, _version.Version, +1);
            // A free runner and a policy that does not wait for company: this caller's turn runs what the queue
            // gives now (its own request and whatever waits with it), so a batch costs no hop to a dispatcher and
            // back. A policy with a max queue delay leaves gathering to the dispatcher, which keeps the time.
            if (allowInline && (policy.MaxQueueDelayMicroseconds == 0 || !policy.Batches) && _runners.Wait(0))
            {
                lead = Taken(_queue.TryTake(_clock.GetUtcNow(), policy));
                if (lead is null) _runners.Release();
            }
            waiting = _queue.Count > 0;
            if (waiting) _loop ??= Task.Run(RunLoopAsync);
        }
        if (waiting) _arrivals.Release();
        return lead is null ? pending.Done.Task : RunLeadAsync(lead, pending);
    }

    private async Task<PredictResponse> RunLeadAsync(List<Pending> batch, Pending own)
    {
        await ExecuteAsync(batch);
        return await own.Done.Task;
    }

    // What a queue decision hands over: expired requests are failed here, and the batch (or null) is what runs.
    private List<Pending>? Taken(BatchDecision<Pending> decision)
    {
        var left = decision.Batch.Count + decision.Expired.Count;
        if (left > 0) _metrics.Queued(_version.Model, _version.Version, -left);
        foreach (var expired in decision.Expired)
            expired.Item.Done.TrySetException(new DeadlineExceededException(_version.Model, "while queued"));
        return decision.Runs ? decision.Batch.Select(r => r.Item).ToList() : null;
    }

    /// <summary>
    /// Ends this batcher if nothing waits or runs in it (its session was unloaded); true when it is retired. A
    /// request arriving after that is refused by <see cref="TrySubmit"/> and goes to a new batcher.
    /// </summary>
    public bool TryRetire()
    {
        lock (_gate)
        {
            if (_retired) return true;
            if (_queue.Count > 0 || _runners.CurrentCount < _runnerCount) return false;
            _retired = true;
        }
        _stop.Cancel();
        return true;
    }

    // Time for the queue ahead to drain: batches waiting x the recent batch time, over the runners.
    private TimeSpan RetryAfter(ServingPolicy policy)
    {
        var batches = Math.Ceiling((double)policy.MaxQueueSize / Math.Max(1, policy.MaxBatchSize));
        return TimeSpan.FromMilliseconds(Math.Max(1, batches * _batchMilliseconds / _runnerCount));
    }

    // Inputs that cannot stack (TensorStacking's rule) run alone, and ONNX Runtime judges them there.
    private int Rows(PredictRequest request) =>
        _batchable && TensorStacking.StackKey(request.Inputs) is not null ? TensorStacking.RowCount(request.Inputs) ?? 0 : 0;

    // What a caller is billed for: the rows it sent, whether or not the model lets them stack (a model that does
    // not batch still runs every row it is given). A scalar input counts as one row.
    private static int MeteredRows(PredictRequest request) =>
        request.Inputs.Length == 0 || request.Inputs[0].Shape.Length == 0 ? 1 : (int)Math.Clamp(request.Inputs[0].Shape[0], 0, int.MaxValue);

    private static string BatchKey(PredictRequest request) => TensorStacking.StackKey(request.Inputs, request.Outputs) ?? "";

    // The dispatcher: when requests wait and a runner is free, the queue says what runs; this loop only waits.
    private async Task RunLoopAsync()
    {
        // The loop was started on the turn of whichever request came first; its span is not every batch's parent.
        Activity.Current = null;
        while (true)
        {
            // The queue is the truth: arrival signals may have been used up while a batch waited for company,
            // while requests that did not fit it still wait.
            if (IsQueueEmpty())
            {
                try
                {
                    await _arrivals.WaitAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return; // retired: nothing waits, and nothing can join any more
                }
                continue;
            }
            await _runners.WaitAsync();
            List<Pending>? batch;
            try
            {
                batch = await NextBatchAsync();
            }
            catch (Exception e)
            {
                _runners.Release();
                _logger.LogError(e, "Batcher of {Model} version {Version} failed to form a batch", _version.Model, _version.Version);
                continue;
            }
            if (batch is null)
            {
                _runners.Release();
                continue;
            }
            _ = Task.Run(() => ExecuteAsync(batch));
        }
    }

    // Asks the queue until it gives a batch (null: nothing left), waking at the time it names or at an arrival.
    private async Task<List<Pending>?> NextBatchAsync()
    {
        while (true)
        {
            BatchDecision<Pending> decision;
            lock (_gate) decision = _queue.TryTake(_clock.GetUtcNow(), _policy);
            if (Taken(decision) is { } batch) return batch;
            if (decision.WaitUntil is not { } until) return null;
            var wait = until - _clock.GetUtcNow();
            if (wait > TimeSpan.Zero) await _arrivals.WaitAsync(wait);
        }
    }

    private bool IsQueueEmpty()
    {
        lock (_gate) return _queue.Count == 0;
    }

    private bool FailIfExpired(Pending pending, string stage)
    {
        if (pending.Request.Deadline is not DateTimeOffset deadline || _clock.GetUtcNow() <= deadline) return false;
        pending.Done.TrySetException(new DeadlineExceededException(_version.Model, stage));
        return true;
    }

    private async Task ExecuteAsync(List<Pending> batch)
    {
        // One span per batch, child of its first request's predict span and linked to the others', so each
        // request's trace reaches the run that served it.
        // (Checked first: the links would be built for every batch even when nobody listens.)
        using var batchSpan = MeshMetrics.Source.HasListeners()
            ? MeshMetrics.Source.StartActivity(MeshTelemetry.Spans.Batch, ActivityKind.Internal, batch[0].Trace,
                links: batch.Skip(1).Where(p => p.Trace != default).Select(p => new ActivityLink(p.Trace)))
            : null;
        batchSpan?.SetTag(MeshTelemetry.Tags.Model, _version.Model);
        batchSpan?.SetTag(MeshTelemetry.Tags.Version, _version.Version);
        batchSpan?.SetTag(MeshTelemetry.Tags.BatchRequests, batch.Sum(p => p.Requests));
        try
        {
            using var lease = await _sessions.AcquireAsync(_version, _policy);
            var live = batch.Where(p => !FailIfExpired(p, lease.ColdStart ? "while the session loaded (cold start)" : "before the run")).ToList();
            if (live.Count == 0) return;

            var started = _clock.GetTimestamp();
            NamedTensor[][] outputs;
            using (var run = MeshMetrics.Source.StartActivity(MeshTelemetry.Spans.OnnxRun))
            {
                run?.SetTag(MeshTelemetry.Tags.BatchRows, live.Sum(p => p.Rows));
                outputs = live.Count == 1
                    ? [lease.Session.RunChecked(_version.Version, live[0].Request.Inputs, live[0].Request.Outputs)]
                    : Split(lease.Session.RunChecked(_version.Version, TensorStacking.Stack(live.Select(p => p.Request.Inputs).ToList()), live[0].Request.Outputs), live);
            }
            var computeMs = _clock.GetElapsedTime(started).TotalMilliseconds;
            _batchMilliseconds = 0.8 * _batchMilliseconds + 0.2 * computeMs;

            var totalRows = Math.Max(1, live.Sum(p => Math.Max(1, p.MeteredRows)));
            _metrics.BatchRan(_version.Model, _version.Version, live.Sum(p => p.MeteredRows), live.Sum(p => p.Requests), computeMs);
            for (var i = 0; i < live.Count; i++)
            {
                var p = live[i];
                var queueMs = _clock.GetElapsedTime(p.EnqueuedAt, started).TotalMilliseconds;
                _metrics.QueueWaited(_version.Model, _version.Version, queueMs);
                _usage.Record(p.Request.Caller, p.Requests, p.MeteredRows, computeMs * Math.Max(1, p.MeteredRows) / totalRows, queueMs);
                // Only the request whose batch loaded the session reports the cold start.
                p.Done.TrySetResult(new PredictResponse(_version.Model, _version.Version, outputs[i], lease.ColdStart && i == 0, _silo));
            }
        }
        catch (Exception e)
        {
            batchSpan?.SetStatus(ActivityStatusCode.Error, e.Message);
            batchSpan?.SetTag(MeshTelemetry.Tags.ErrorType, e.GetType().Name);
            foreach (var p in batch) p.Done.TrySetException(e);
        }
        finally
        {
            _runners.Release();
        }
    }

    /// <summary>Each output cut back into the rows of each request.</summary>
    private NamedTensor[][] Split(NamedTensor[] outputs, List<Pending> batch) =>
        TensorStacking.Split(outputs, batch.Select(p => p.Rows).ToArray(), out var unsplittable)
        ?? throw new InferenceFailedException(_version.Model, _version.Version,
            $"output '{unsplittable!.Name}' has shape {NamedTensor.ShapeText(unsplittable.Shape)}, not one row per input row, so it cannot be batched; set the model's MaxBatchSize to 1");

    private sealed class Pending(PredictRequest request, int rows, int meteredRows, string key, long enqueuedAt, int requests)
    {
        public PredictRequest Request { get; } = request;
        /// <summary>How many callers' requests this entry holds (more than one when a client stacked them).</summary>
        public int Requests { get; } = requests;
        /// <summary>Rows this entry adds to a stacked batch; 0 when it cannot stack and runs alone.</summary>
        public int Rows { get; } = rows;
        /// <summary>Rows the caller sent, for usage and the batch-size metric.</summary>
        public int MeteredRows { get; } = meteredRows;
        public string Key { get; } = key;
        public long EnqueuedAt { get; } = enqueuedAt;
        /// <summary>The predict span the request came with (captured at submit, on the caller's turn).</summary>
        public ActivityContext Trace { get; } = Activity.Current?.Context ?? default;
        public TaskCompletionSource<PredictResponse> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
