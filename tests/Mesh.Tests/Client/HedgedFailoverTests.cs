using Mesh.Client;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Tests.Client;

public class HedgedFailoverTests
{
    private sealed class RegionDown(string message) : Exception(message);

    private static readonly TimeSpan Hedge = TimeSpan.FromMilliseconds(50);

    private static Task<(int Region, string Answer)> Run(FakeTimeProvider clock, Dictionary<int, TaskCompletionSource<string>> regions, List<int> started, int count = 3) =>
        HedgedFailover.RunAsync(Enumerable.Range(0, count).ToArray(),
            (region, _) => { started.Add(region); return regions[region].Task; },
            _ => Hedge, e => e is RegionDown, clock);

    private static Dictionary<int, TaskCompletionSource<string>> Regions(int count = 3) =>
        Enumerable.Range(0, count).ToDictionary(i => i, _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));

    [Fact]
    public async Task A_region_that_answers_within_the_hedge_delay_is_the_only_one_asked()
    {
        var (clock, regions, started) = (new FakeTimeProvider(), Regions(), new List<int>());
        var run = Run(clock, regions, started);
        clock.Advance(TimeSpan.FromMilliseconds(49));
        regions[0].SetResult("east");
        Assert.Equal((0, "east"), await run);
        Assert.Equal([0], started);
    }

    [Fact]
    public async Task A_slow_region_gets_a_hedge_after_its_delay_and_the_first_answer_wins()
    {
        var (clock, regions, started) = (new FakeTimeProvider(), Regions(), new List<int>());
        var run = Run(clock, regions, started);
        await Task.Yield();
        Assert.Equal([0], started);
        clock.Advance(Hedge);
        await WaitUntil(() => started.Count == 2);
        regions[1].SetResult("west");
        Assert.Equal((1, "west"), await run);
        Assert.Equal([0, 1], started);
    }

    [Fact]
    public async Task A_region_failure_moves_to_the_next_at_once_without_waiting_for_the_delay()
    {
        var (clock, regions, started) = (new FakeTimeProvider(), Regions(), new List<int>());
        var run = Run(clock, regions, started);
        regions[0].SetException(new RegionDown("east is gone"));
        await WaitUntil(() => started.Count == 2);   // no clock advance
        regions[1].SetResult("west");
        Assert.Equal((1, "west"), await run);
    }

    [Fact]
    public async Task An_error_about_the_request_is_not_tried_elsewhere()
    {
        var (clock, regions, started) = (new FakeTimeProvider(), Regions(), new List<int>());
        var run = Run(clock, regions, started);
        regions[0].SetException(new ArgumentException("no such input"));
        await Assert.ThrowsAsync<ArgumentException>(() => run);
        Assert.Equal([0], started);
    }

    [Fact]
    public async Task When_every_region_fails_each_failure_is_reported()
    {
        var (clock, regions, started) = (new FakeTimeProvider(), Regions(2), new List<int>());
        var failed = new List<int>();
        var run = HedgedFailover.RunAsync([0, 1], (region, _) => { started.Add(region); return regions[region].Task; }, _ => Hedge, e => e is RegionDown, clock, (r, _) => failed.Add(r));
        regions[0].SetException(new RegionDown("east"));
        await WaitUntil(() => started.Count == 2);
        regions[1].SetException(new RegionDown("west"));
        var all = await Assert.ThrowsAsync<AggregateException>(() => run);
        Assert.Equal(["east", "west"], all.InnerExceptions.Select(e => e.Message));
        Assert.Equal([0, 1], failed);
    }

    [Fact]
    public void The_delay_is_the_recent_p99_within_its_bounds_once_enough_is_known()
    {
        var (initial, floor, ceiling) = (TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(2), TimeSpan.FromSeconds(1));
        Assert.Equal(initial, HedgedFailover.DelayFrom([1, 2, 3], initial, floor, ceiling));
        var samples = Enumerable.Range(1, 100).Select(i => (double)i).ToArray();
        Assert.Equal(TimeSpan.FromMilliseconds(99), HedgedFailover.DelayFrom(samples, initial, floor, ceiling));
        Assert.Equal(floor, HedgedFailover.DelayFrom(Enumerable.Repeat(0.1, 50).ToArray(), initial, floor, ceiling));
        Assert.Equal(ceiling, HedgedFailover.DelayFrom(Enumerable.Repeat(5000.0, 50).ToArray(), initial, floor, ceiling));
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++) await Task.Delay(5);
        Assert.True(condition());
    }
}
