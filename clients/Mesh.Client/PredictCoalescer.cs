using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Tensors;

namespace Mesh.Client;

/// <summary>
/// Coalesces one model's concurrent predicts in the client. Up to <see cref="MaxInFlight"/> calls go out at once,
/// each at once (no added latency); predicts made while all of them are busy gather and go together as one
/// message when a call returns. Under load this turns many small messages into few larger ones, which the silo's
/// batcher then runs together. Orleans costs about the same per message whatever it carries.
/// </summary>
internal sealed class PredictCoalescer(Func<IInferenceGrain> nextLane, int maxInFlight, int maxGroup, TimeProvider? clock = null)
{
    public int MaxInFlight { get; } = maxInFlight;
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly object _gate = new();
    // Calls sent and not yet answered, with the lane each went to, so a caller that gave up waiting can tell which
    // lanes are not answering (see LanesWaitingLongerThan).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<object, (IInferenceGrain Lane, long SentAt)> _unanswered = new();
    private readonly List<(PredictRequest Request, TaskCompletionSource<PredictResponse> Done)> _waiting = [];
    private int _inFlight;

    public Task<PredictResponse> PredictAsync(PredictRequest request)
    {
        // A high-priority predict never waits in the client behind in-flight calls; the silo's queue orders it.
        if (request.Priority == PredictPriority.High)
            return CallAsync(lane => lane.PredictAsync(request));
        lock (_gate)
        {
            if (_inFlight >= MaxInFlight)
            {
                var done = new TaskCompletionSource<PredictResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiting.Add((request, done));
                return done.Task;
            }
            _inFlight++;
        }
        return SendOneAsync(request);
    }

    private async Task<PredictResponse> SendOneAsync(PredictRequest request)
    {
        try
        {
            return await CallAsync(lane => lane.PredictAsync(request));
        }
        finally
        {
            SendWaiting();
        }
    }

    /// <summary>The lanes of calls sent at least <paramref name="age"/> ago that have no answer yet.</summary>
    public IReadOnlyList<IInferenceGrain> LanesWaitingLongerThan(TimeSpan age) =>
        _unanswered.Values.Where(c => _clock.GetElapsedTime(c.SentAt) >= age).Select(c => c.Lane).Distinct().ToList();

    private async Task<T> CallAsync<T>(Func<IInferenceGrain, Task<T>> call)
    {
        var lane = nextLane();
        var token = new object();
        _unanswered[token] = (lane, _clock.GetTimestamp());
        try
        {
            return await call(lane);
        }
        finally
        {
            _unanswered.TryRemove(token, out _);
        }
    }

    // Called as a call returns: its slot goes to the predicts that gathered meanwhile, or is given back.
    private void SendWaiting()
    {
        List<(PredictRequest Request, TaskCompletionSource<PredictResponse> Done)> group;
        lock (_gate)
        {
            if (_waiting.Count == 0)
            {
                _inFlight--;
                return;
            }
            var count = Math.Min(_waiting.Count, maxGroup);
            group = _waiting.GetRange(0, count);
            _waiting.RemoveRange(0, count);
        }
        _ = SendGroupAsync(group);
    }

    private async Task SendGroupAsync(List<(PredictRequest Request, TaskCompletionSource<PredictResponse> Done)> group)
    {
        try
        {
            // Requests that agree on everything but their rows cross as one stacked request; the rest as a list.
            var stacks = new Dictionary<string, List<(PredictRequest Request, TaskCompletionSource<PredictResponse> Done)>>(StringComparer.Ordinal);
            var others = new List<(PredictRequest Request, TaskCompletionSource<PredictResponse> Done)>();
            foreach (var item in group)
            {
                if (StackKey(item.Request) is { } key)
                {
                    if (!stacks.TryGetValue(key, out var members)) stacks[key] = members = [];
                    members.Add(item);
                }
                else others.Add(item);
            }
            var sends = new List<Task>();
            foreach (var members in stacks.Values)
            {
                if (members.Count == 1) others.Add(members[0]);
                else sends.Add(SendStackedAsync(members));
            }
            if (others.Count > 0) sends.Add(SendListAsync(others));
            await Task.WhenAll(sends);
        }
        finally
        {
            SendWaiting();
        }
    }

    private async Task SendListAsync(List<(PredictRequest Request, TaskCompletionSource<PredictResponse> Done)> group)
    {
        try
        {
            var outcomes = await CallAsync(lane => lane.PredictManyAsync(group.Select(g => g.Request).ToArray()));
            Complete(group, outcomes);
        }
        catch (Exception e)
        {
            foreach (var (_, done) in group) done.TrySetException(e);
        }
    }

    private async Task SendStackedAsync(List<(PredictRequest Request, TaskCompletionSource<PredictResponse> Done)> group)
    {
        try
        {
            var rows = new int[group.Count];
            var inputs = new List<NamedTensor[]>(group.Count);
            for (var i = 0; i < group.Count; i++)
            {
                rows[i] = TensorStacking.RowCount(group[i].Request.Inputs)!.Value;
                inputs.Add(group[i].Request.Inputs);
            }
            var stacked = group[0].Request with { Inputs = TensorStacking.Stack(inputs) };
            var outcome = await CallAsync(lane => lane.PredictStackedAsync(stacked, rows));
            if (outcome.Each is { } each)
            {
                Complete(group, each);
                return;
            }
            var response = outcome.Stacked!;
            var outputs = TensorStacking.Split(response.Outputs, rows, out var unsplittable)
                ?? throw new InferenceFailedException(response.Model, response.Version,
                    $"output '{unsplittable!.Name}' has shape {NamedTensor.ShapeText(unsplittable.Shape)}, not one row per input row");
            for (var i = 0; i < group.Count; i++)
                group[i].Done.TrySetResult(response with { Outputs = outputs[i], ColdStart = response.ColdStart && i == 0 });
        }
        catch (Exception e)
        {
            foreach (var (_, done) in group) done.TrySetException(e);
        }
    }

    private static void Complete(List<(PredictRequest Request, TaskCompletionSource<PredictResponse> Done)> group, PredictOutcome[] outcomes)
    {
        for (var i = 0; i < group.Count; i++)
        {
            if (outcomes[i].Error is { } error) group[i].Done.TrySetException(error);
            else group[i].Done.TrySetResult(outcomes[i].Response!);
        }
    }

    // The tensors stack by TensorStacking's rule (the batcher's too); the rest of the request must agree as well,
    // since a stacked request carries one of each.
    private static string? StackKey(PredictRequest request) =>
        TensorStacking.StackKey(request.Inputs, request.Outputs) is { } tensors
            ? string.Join('\u001f', request.Model, request.Version, request.Deadline?.UtcTicks, (int)request.Priority, request.Caller, request.RoutingKey, tensors)
            : null;
}
