using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;

namespace Mesh.Grains.Inference;

/// <summary>A request waiting in a <see cref="BatchQueue{T}"/>: what it carries and what the queue needs to know of it.</summary>
/// <param name="Rows">Rows it adds to a stacked run; 0: it cannot stack and runs alone.</param>
/// <param name="Key">Requests stack only with the same key (input names, trailing dimensions, outputs).</param>
public sealed record QueuedRequest<T>(T Item, int Rows, string Key, DateTimeOffset EnqueuedAt, PredictPriority Priority = PredictPriority.Normal, DateTimeOffset? Deadline = null);

/// <summary>What the queue decided: a batch to run now, requests whose deadline passed, and when to ask again if it is waiting.</summary>
public sealed record BatchDecision<T>(IReadOnlyList<QueuedRequest<T>> Batch, IReadOnlyList<QueuedRequest<T>> Expired, DateTimeOffset? WaitUntil)
{
    public bool Runs => Batch.Count > 0;
}

/// <summary>
/// One model version's waiting requests and the rule for what runs next, as Triton's dynamic batcher decides it,
/// with no clock, thread or session of its own (the batcher around it has those), so a fake clock tests it:
/// <list type="bullet">
/// <item>the oldest request goes first, high priority before normal; a request whose deadline has passed is taken
/// out unrun and reported;</item>
/// <item>it runs alone when it cannot stack, when the model does not batch, or when it fills the batch by itself;</item>
/// <item>otherwise the requests behind it with the same key join it, in order, up to the max batch size: a full
/// batch runs at once, and so does the largest preferred batch size the joiners reach; else it waits for company
/// until the oldest has waited the max queue delay, and then runs with what it has;</item>
/// <item>the queue is bounded: a request past its size is refused at once.</item>
/// </list>
/// Not thread-safe: the batcher holds its lock around each call.
/// </summary>
public sealed class BatchQueue<T>
{
    private readonly LinkedList<QueuedRequest<T>> _high = new();
    private readonly LinkedList<QueuedRequest<T>> _normal = new();

    public int Count => _high.Count + _normal.Count;

    /// <summary>Queues a request, or refuses it (false) when <see cref="ServingPolicy.MaxQueueSize"/> wait already.</summary>
    public bool TryEnqueue(QueuedRequest<T> request, ServingPolicy policy)
    {
        if (Count >= policy.MaxQueueSize) return false;
        (request.Priority == PredictPriority.High ? _high : _normal).AddLast(request);
        return true;
    }

    /// <summary>Decides what runs now under <paramref name="policy"/> at time <paramref name="now"/>; what it returns to run or fail has left the queue.</summary>
    public BatchDecision<T> TryTake(DateTimeOffset now, ServingPolicy policy)
    {
        var expired = new List<QueuedRequest<T>>();
        var first = TakeOldest(now, expired);
        if (first is null) return new BatchDecision<T>([], expired, null);
        if (first.Value.Rows == 0 || !policy.Batches || first.Value.Rows >= policy.MaxBatchSize)
            return Run([Remove(first)], expired);

        // The oldest and its compatible followers, in queue order, as far as the max batch size allows.
        var batch = new List<LinkedListNode<QueuedRequest<T>>> { first };
        var rows = first.Value.Rows;
        var preferredAt = policy.PreferredBatchSizes?.Contains(rows) == true ? 1 : 0;
        foreach (var queue in new[] { _high, _normal })
        {
            for (var node = queue.First; node is not null && rows < policy.MaxBatchSize;)
            {
                var next = node.Next;
                var candidate = node.Value;
                if (node != first && candidate.Key == first.Value.Key && candidate.Rows > 0 && rows + candidate.Rows <= policy.MaxBatchSize)
                {
                    if (candidate.Deadline is { } deadline && deadline < now)
                    {
                        expired.Add(candidate);
                        queue.Remove(node);
                    }
                    else
                    {
                        batch.Add(node);
                        rows += candidate.Rows;
                        if (policy.PreferredBatchSizes?.Contains(rows) == true) preferredAt = batch.Count;
                    }
                }
                node = next;
            }
        }

        if (rows >= policy.MaxBatchSize) return Run(batch.Select(Remove).ToList(), expired);
        if (preferredAt > 0) return Run(batch.Take(preferredAt).Select(Remove).ToList(), expired);
        var dispatchAt = first.Value.EnqueuedAt + TimeSpan.FromMicroseconds(policy.MaxQueueDelayMicroseconds);
        if (now >= dispatchAt) return Run(batch.Select(Remove).ToList(), expired);
        return new BatchDecision<T>([], expired, dispatchAt);
    }

    private static BatchDecision<T> Run(List<QueuedRequest<T>> batch, List<QueuedRequest<T>> expired) => new(batch, expired, null);

    private LinkedListNode<QueuedRequest<T>>? TakeOldest(DateTimeOffset now, List<QueuedRequest<T>> expired)
    {
        foreach (var queue in new[] { _high, _normal })
        {
            while (queue.First is { } node)
            {
                if (node.Value.Deadline is not { } deadline || deadline >= now) return node;
                queue.RemoveFirst();
                expired.Add(node.Value);
            }
        }
        return null;
    }

    private static QueuedRequest<T> Remove(LinkedListNode<QueuedRequest<T>> node)
    {
        node.List!.Remove(node);
        return node.Value;
    }
}
