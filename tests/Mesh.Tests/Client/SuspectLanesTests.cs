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
    public void Settling_time_left_counts_down_from_the_last_lost_gateway()
    {
        var clock = new FakeTimeProvider();
        var watch = new GatewayConnectionWatch(TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(1), clock);
        Assert.Equal(TimeSpan.Zero, watch.SettlingLeft);
        watch.NotifyGatewayCountChanged(2, 0, connectionRecovered: false);
        Assert.Equal(TimeSpan.Zero, watch.SettlingLeft);
        watch.NotifyGatewayCountChanged(1, 2, connectionRecovered: false);
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(TimeSpan.FromSeconds(10), watch.SettlingLeft);
        clock.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(TimeSpan.Zero, watch.SettlingLeft);
    }
}
