using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Grains.Inference;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Tests.Serving;

/// <summary>The dynamic batcher's decisions on a fake clock: max delay, preferred sizes, priorities, deadlines and the queue limit.</summary>
public class BatchQueueTests
{
    private readonly FakeTimeProvider _clock = new();
    private readonly BatchQueue<string> _queue = new();
    private static readonly ServingPolicy Policy = ServingPolicy.Default with { MaxBatchSize = 8, MaxQueueDelayMicroseconds = 1000, MaxQueueSize = 100 };

    private void Add(string name, int rows = 1, string key = "x:64", PredictPriority priority = PredictPriority.Normal, TimeSpan? deadlineIn = null, ServingPolicy? policy = null) =>
        Assert.True(_queue.TryEnqueue(new QueuedRequest<string>(name, rows, key, _clock.GetUtcNow(), priority,
            deadlineIn is { } d ? _clock.GetUtcNow() + d : null), policy ?? Policy));

    private BatchDecision<string> Take(ServingPolicy? policy = null) => _queue.TryTake(_clock.GetUtcNow(), policy ?? Policy);

    private static string[] Names(BatchDecision<string> d) => d.Batch.Select(r => r.Item).ToArray();

    [Fact]
    public void A_batch_waits_for_company_until_the_oldest_has_waited_the_max_delay()
    {
        Add("a");
        _clock.Advance(TimeSpan.FromMicroseconds(400));
        Add("b");

        var waiting = Take();
        Assert.False(waiting.Runs);
        Assert.Equal(_clock.GetUtcNow() + TimeSpan.FromMicroseconds(600), waiting.WaitUntil);
        Assert.Equal(2, _queue.Count);

        _clock.Advance(TimeSpan.FromMicroseconds(599));
        Assert.False(Take().Runs);
        _clock.Advance(TimeSpan.FromMicroseconds(1));
        Assert.Equal(["a", "b"], Names(Take()));
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public void A_full_batch_runs_at_once_and_the_rest_waits_its_turn()
    {
        for (var i = 0; i < 10; i++) Add($"r{i}");
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"r{i}"), Names(Take()));
        Assert.False(Take().Runs);
        Assert.Equal(2, _queue.Count);
    }

    [Fact]
    public void With_no_delay_whatever_is_queued_runs_together_at_once()
    {
        var policy = Policy with { MaxQueueDelayMicroseconds = 0 };
        Add("a", policy: policy);
        Add("b", policy: policy);
        Assert.Equal(["a", "b"], Names(Take(policy)));
    }

    [Fact]
    public void The_largest_preferred_batch_size_reached_runs_at_once()
    {
        var policy = Policy with { PreferredBatchSizes = [2, 4] };
        foreach (var name in new[] { "a", "b", "c", "d", "e" }) Add(name, policy: policy);
        Assert.Equal(["a", "b", "c", "d"], Names(Take(policy)));
        // One left: no preferred size is reached, so it waits for the delay.
        Assert.False(Take(policy).Runs);
    }

    [Fact]
    public void Rows_count_toward_the_batch_not_requests_and_a_request_that_does_not_fit_waits()
    {
        Add("three", rows: 3);
        Add("four", rows: 4);
        Add("two", rows: 2);
        Add("one", rows: 1);
        // 3 + 4 + 1 = 8 fills the batch; "two" would overflow it and stays for the next.
        Assert.Equal(["three", "four", "one"], Names(Take()));
        Assert.Equal(1, _queue.Count);
    }

    [Fact]
    public void Only_requests_with_the_same_key_stack_and_one_that_cannot_stack_runs_alone()
    {
        Add("a", key: "x:64");
        Add("other", key: "x:32");
        Add("b", key: "x:64");
        Add("alone", rows: 0);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(["a", "b"], Names(Take()));
        Assert.Equal(["other"], Names(Take()));
        Assert.Equal(["alone"], Names(Take()));
    }

    [Fact]
    public void High_priority_goes_first_and_takes_normal_company()
    {
        Add("normal-1");
        Add("normal-2");
        Add("urgent", priority: PredictPriority.High);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(["urgent", "normal-1", "normal-2"], Names(Take()));
    }

    [Fact]
    public void A_request_whose_deadline_passed_is_taken_out_unrun_and_reported()
    {
        Add("late", deadlineIn: TimeSpan.FromMicroseconds(100));
        Add("patient");
        Add("late-follower", deadlineIn: TimeSpan.FromMicroseconds(100));
        _clock.Advance(TimeSpan.FromMilliseconds(2));
        var decision = Take();
        Assert.Equal(["late", "late-follower"], decision.Expired.Select(r => r.Item).Order());
        Assert.Equal(["patient"], Names(decision));
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public void The_queue_refuses_past_its_limit_and_takes_again_once_there_is_room()
    {
        var small = Policy with { MaxQueueSize = 2, MaxQueueDelayMicroseconds = 0 };
        Add("a", policy: small);
        Add("b", policy: small);
        Assert.False(_queue.TryEnqueue(new QueuedRequest<string>("c", 1, "x:64", _clock.GetUtcNow()), small));
        Take(small);
        Assert.True(_queue.TryEnqueue(new QueuedRequest<string>("c", 1, "x:64", _clock.GetUtcNow()), small));
    }

    [Fact]
    public void A_model_that_does_not_batch_runs_each_request_alone_at_once()
    {
        var unbatched = Policy with { MaxBatchSize = 1 };
        Add("a", policy: unbatched);
        Add("b", policy: unbatched);
        Assert.Equal(["a"], Names(Take(unbatched)));
        Assert.Equal(["b"], Names(Take(unbatched)));
        Assert.False(Take(unbatched).Runs);
        Assert.Null(Take(unbatched).WaitUntil);
    }
}
