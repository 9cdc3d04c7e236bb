using Mesh.Client;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Tests.Client;

public class SuspectLanesTests
{
    [Fact]
    public void A_marked_lane_is_suspect_for_its_period_and_a_later_mark_only_extends_it()
    {
        var clock = new FakeTimeProvider();
        var lanes = new SuspectLanes(clock);
        Assert.False(lanes.IsSuspect("m#3"));

        lanes.Mark("m#3", TimeSpan.FromSeconds(10));
        lanes.Mark("m#3", TimeSpan.FromSeconds(2));
        lanes.Mark("m#4", TimeSpan.Zero);
        Assert.True(lanes.IsSuspect("m#3"));
        Assert.False(lanes.IsSuspect("m#4"));

        clock.Advance(TimeSpan.FromSeconds(9.9));
        Assert.True(lanes.IsSuspect("m#3"));
        clock.Advance(TimeSpan.FromSeconds(0.2));
        Assert.False(lanes.IsSuspect("m#3"));
    }

    [Fact]
    public void Each_lane_keeps_its_own_period_when_marks_overlap()
    {
        var clock = new FakeTimeProvider();
        var lanes = new SuspectLanes(clock);
        lanes.Mark("m#1", TimeSpan.FromSeconds(10));
        lanes.Mark("m#2", TimeSpan.FromSeconds(2));
        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.False(lanes.IsSuspect("m#2"));
        Assert.True(lanes.IsSuspect("m#1"));
        Assert.False(lanes.IsSuspect("m#5"));
        clock.Advance(TimeSpan.FromSeconds(8));
        Assert.False(lanes.IsSuspect("m#1"));
    }
}
