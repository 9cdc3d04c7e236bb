using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Tensors;
using Mesh.Client;

namespace Mesh.Tests.Client;

/// <summary>
/// The SDK's coalescer against a lane whose calls the test answers by hand: what goes out at once, what gathers,
/// how a gathered group crosses (one stacked call, or a list), and that every caller gets its own answer or error.
/// </summary>
public class PredictCoalescerTests
{
    private static PredictRequest Row(float value, int width = 4, PredictPriority priority = PredictPriority.Normal) =>
        new("m", [NamedTensor.Create("x", [1, width], Enumerable.Repeat(value, width).ToArray())], Priority: priority);

    private static PredictResponse Answer(params float[] rows) =>
        new("m", 1, [NamedTensor.Create("y", [rows.Length, 1], rows)], false, "silo");

    private static float[] ValuesOf(PredictResponse response) => response.Outputs[0].AsSpan<float>().ToArray();

    [Fact]
    public async Task Predicts_past_the_in_flight_limit_gather_and_go_as_one_stacked_call_when_a_call_returns()
    {
        var lane = new HandAnsweredLane();
        var coalescer = new PredictCoalescer(() => lane, maxInFlight: 2, maxGroup: 256);

        var first = coalescer.PredictAsync(Row(1));
        var second = coalescer.PredictAsync(Row(2));
        var gathered = new[] { coalescer.PredictAsync(Row(3)), coalescer.PredictAsync(Row(4)), coalescer.PredictAsync(Row(5)) };
        Assert.Equal(["single", "single"], lane.Calls.Select(c => c.Kind));
        Assert.All(gathered, t => Assert.False(t.IsCompleted));

        lane.Calls[0].Single!.SetResult(Answer(10));
        var firstAnswer = await first;
        Assert.Equal(new[] { 10f }, ValuesOf(firstAnswer));
        var stacked = Assert.Single(lane.Calls, c => c.Kind == "stacked");
        Assert.Equal([1, 1, 1], stacked.Rows);
        Assert.Equal([3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5], stacked.Requests[0].Inputs[0].AsSpan<float>().ToArray());
        stacked.Stacked!.SetResult(new StackedOutcome(Answer(30, 40, 50), null));
        Assert.Equal([[30f], [40f], [50f]], (await Task.WhenAll(gathered)).Select(ValuesOf));

        lane.Calls[1].Single!.SetResult(Answer(20));
        var secondAnswer = await second;
        Assert.Equal(new[] { 20f }, ValuesOf(secondAnswer));
    }

    [Fact]
    public async Task Requests_that_cannot_stack_go_as_a_list_and_each_gets_its_own_outcome()
    {
        var lane = new HandAnsweredLane();
        var coalescer = new PredictCoalescer(() => lane, maxInFlight: 1, maxGroup: 256);
        var first = coalescer.PredictAsync(Row(1));
        // Other trailing dimensions: these two cannot share a tensor.
        var narrow = coalescer.PredictAsync(Row(2, width: 4));
        var wide = coalescer.PredictAsync(Row(3, width: 8));

        lane.Calls[0].Single!.SetResult(Answer(1));
        await first;
        var list = Assert.Single(lane.Calls, c => c.Kind == "list");
        Assert.Equal(2, list.Requests.Length);
        list.List!.SetResult([new PredictOutcome(Answer(2), null), new PredictOutcome(null, new ModelNotFoundException("m"))]);
        var narrowAnswer = await narrow;
        Assert.Equal(new[] { 2f }, ValuesOf(narrowAnswer));
        await Assert.ThrowsAsync<ModelNotFoundException>(() => wide);
    }

    [Fact]
    public async Task A_failed_group_call_fails_every_request_it_carried_and_frees_its_slot()
    {
        var lane = new HandAnsweredLane();
        var coalescer = new PredictCoalescer(() => lane, maxInFlight: 1, maxGroup: 256);
        var first = coalescer.PredictAsync(Row(1));
        var a = coalescer.PredictAsync(Row(2));
        var b = coalescer.PredictAsync(Row(3));
        lane.Calls[0].Single!.SetResult(Answer(1));
        await first;

        lane.Calls.Single(c => c.Kind == "stacked").Stacked!.SetException(new TimeoutException("gateway gone"));
        Assert.Equal("gateway gone", (await Assert.ThrowsAsync<TimeoutException>(() => a)).Message);
        await Assert.ThrowsAsync<TimeoutException>(() => b);

        // The slot came back: the next predict goes out at once, alone.
        var next = coalescer.PredictAsync(Row(4));
        Assert.Equal("single", lane.Calls[^1].Kind);
        lane.Calls[^1].Single!.SetResult(Answer(4));
        var nextAnswer = await next;
        Assert.Equal(new[] { 4f }, ValuesOf(nextAnswer));
    }

    [Fact]
    public void A_group_is_cut_at_its_largest_size()
    {
        var lane = new HandAnsweredLane();
        var coalescer = new PredictCoalescer(() => lane, maxInFlight: 1, maxGroup: 3);
        _ = coalescer.PredictAsync(Row(0));
        for (var i = 1; i <= 5; i++) _ = coalescer.PredictAsync(Row(i));
        lane.Calls[0].Single!.SetResult(Answer(0));
        Assert.Equal([1, 1, 1], lane.Calls.Single(c => c.Kind == "stacked").Rows);
    }

    [Fact]
    public void A_high_priority_predict_never_waits_behind_calls_in_flight()
    {
        var lane = new HandAnsweredLane();
        var coalescer = new PredictCoalescer(() => lane, maxInFlight: 1, maxGroup: 256);
        _ = coalescer.PredictAsync(Row(1));
        _ = coalescer.PredictAsync(Row(2));
        _ = coalescer.PredictAsync(Row(3, priority: PredictPriority.High));
        Assert.Equal(["single", "single"], lane.Calls.Select(c => c.Kind));
        Assert.Equal(PredictPriority.High, lane.Calls[1].Requests[0].Priority);
    }

    /// <summary>An inference lane whose every call waits until the test answers it.</summary>
    [Fact]
    public async Task The_lanes_of_calls_left_unanswered_past_an_age_are_named_and_answered_ones_are_not()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var silent = new HandAnsweredLane();
        var answering = new HandAnsweredLane();
        var next = 0;
        var coalescer = new PredictCoalescer(() => next++ % 2 == 0 ? silent : answering, maxInFlight: 4, maxGroup: 256, clock);
        var toSilent = coalescer.PredictAsync(Row(1));
        clock.Advance(TimeSpan.FromMilliseconds(500));
        var toAnswering = coalescer.PredictAsync(Row(2));
        Assert.Empty(coalescer.LanesWaitingLongerThan(TimeSpan.FromSeconds(1)));

        clock.Advance(TimeSpan.FromMilliseconds(600));
        Assert.Same(silent, Assert.Single(coalescer.LanesWaitingLongerThan(TimeSpan.FromSeconds(1))));
        Assert.Equal(2, coalescer.LanesWaitingLongerThan(TimeSpan.FromMilliseconds(500)).Count);

        answering.Calls[0].Single!.SetResult(Answer(2));
        await toAnswering;
        silent.Calls[0].Single!.SetResult(Answer(1));
        await toSilent;
        Assert.Empty(coalescer.LanesWaitingLongerThan(TimeSpan.Zero));
    }

    private sealed class HandAnsweredLane : IInferenceGrain
    {
        public List<Call> Calls { get; } = [];

        public Task<PredictResponse> PredictAsync(PredictRequest request)
        {
            var call = new Call("single", [request], [], new TaskCompletionSource<PredictResponse>(), null, null);
            Calls.Add(call);
            return call.Single!.Task;
        }

        public Task<PredictOutcome[]> PredictManyAsync(PredictRequest[] requests)
        {
            var call = new Call("list", requests, [], null, new TaskCompletionSource<PredictOutcome[]>(), null);
            Calls.Add(call);
            return call.List!.Task;
        }

        public Task<StackedOutcome> PredictStackedAsync(PredictRequest stacked, int[] rows)
        {
            var call = new Call("stacked", [stacked], rows, null, null, new TaskCompletionSource<StackedOutcome>());
            Calls.Add(call);
            return call.Stacked!.Task;
        }
    }

    private sealed record Call(string Kind, PredictRequest[] Requests, int[] Rows,
        TaskCompletionSource<PredictResponse>? Single, TaskCompletionSource<PredictOutcome[]>? List, TaskCompletionSource<StackedOutcome>? Stacked);
}
