using Mesh.Abstractions.Events;
using Mesh.Grains.Devices;

namespace Mesh.Tests.Models;

public class SequenceRangesTests
{
    private static string Text(SequenceRanges set) => string.Join(",", set.Ranges.Select(r => r.From == r.To ? $"{r.From}" : $"{r.From}-{r.To}"));

    [Fact]
    public void Added_numbers_merge_with_the_ranges_they_overlap_or_touch()
    {
        var set = new SequenceRanges();
        set.Add(10, 12);
        set.Add(20, 20);
        set.Add(5, 5);
        Assert.Equal("5,10-12,20", Text(set));
        set.Add(13, 19);   // touches both neighbours
        Assert.Equal("5,10-20", Text(set));
        set.Add(6, 9);
        Assert.Equal("5-20", Text(set));
        set.Add(1, 100);   // covers everything
        Assert.Equal("1-100", Text(set));
        Assert.Equal(100, set.Count);
        Assert.True(set.Contains(1) && set.Contains(100) && !set.Contains(101) && !set.Contains(0));
    }

    [Fact]
    public void Removing_through_a_number_trims_the_range_it_falls_in()
    {
        var set = new SequenceRanges();
        set.Add(5, 10);
        set.Add(20, 30);
        set.RemoveThrough(7);
        Assert.Equal("8-10,20-30", Text(set));
        set.RemoveThrough(25);
        Assert.Equal("26-30", Text(set));
        Assert.Null(set.TakeRangeStartingAt(27));
        Assert.Equal(30, set.TakeRangeStartingAt(26));
        Assert.True(set.IsEmpty);
    }

    [Fact]
    public void A_loss_of_millions_and_one_up_to_long_max_are_one_range_each()
    {
        var state = new DeviceState();
        state.Apply(new DeviceResultsLost(10, 4_000_009, "outbox full", DateTimeOffset.UnixEpoch));
        Assert.Single(state.AppliedAbove.Ranges);
        Assert.Equal(9, state.MissingCount);   // 1..9 never arrived
        Assert.Equal(4_000_000, state.Lost);

        state.Apply(new DeviceResultsLost(5_000_000, long.MaxValue, "reset", DateTimeOffset.UnixEpoch));
        Assert.Equal(2, state.AppliedAbove.Ranges.Count);
        Assert.Equal(4_000_000 + (long.MaxValue - 5_000_000 + 1), state.Lost);

        state.Apply(new DeviceResultsLost(1, 4_999_999, "gap", DateTimeOffset.UnixEpoch));
        Assert.Equal(long.MaxValue, state.Lost);   // saturates instead of wrapping
        Assert.Equal(long.MaxValue, state.AppliedThrough);
        Assert.True(state.AppliedAbove.IsEmpty);
        Assert.Equal(0, state.MissingCount);
    }
}
