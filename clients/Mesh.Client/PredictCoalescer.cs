using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;

namespace Mesh.Client;

/// <summary>
/// Coalesces one model's concurrent predicts in the client. Up to <see cref="MaxInFlight"/> calls go out at once,
/// each at once (no added latency); predicts made while all of them are busy gather and go together as one
/// message when a call returns. Under load this turns many small messages into few larger ones, which the silo's
/// batcher then runs together. Orleans costs about the same per message whatever it carries.
/// </summary>
internal sealed class PredictCoalescer(Func<IInferenceGrain> nextLane, int maxInFlight, int maxGroup)
{
    public int MaxInFlight { get; } = maxInFlight;
    private readonly object _gate = new();
    private readonly List<(PredictRequest Request, TaskCompletionSource<PredictResponse> Done)> _waiting = [];
    private int _inFlight;

    public Task<PredictResponse> PredictAsync(PredictRequest request)
    {
        // A high-priority predict never waits in the client behind in-flight calls; the silo's queue orders it.
        if (request.Priority == PredictPriority.High)
            return nextLane().PredictAsync(request);
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
            return await nextLane().PredictAsync(request);
        }
        finally
        {
            SendWaiting();
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
            var outcomes = await nextLane().PredictManyAsync(group.Select(g => g.Request).ToArray());
            for (var i = 0; i < group.Count; i++)
            {
                if (outcomes[i].Error is { } error) group[i].Done.TrySetException(error);
                else group[i].Done.TrySetResult(outcomes[i].Response!);
            }
        }
        catch (Exception e)
        {
            foreach (var (_, done) in group) done.TrySetException(e);
        }
        finally
        {
            SendWaiting();
        }
    }
}
