using Mesh.Client;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Tests.Client;

public class GatewayConnectionWatchTests
{
    [Fact]
    public void Attempts_are_bounded_only_while_the_cluster_settles_after_a_lost_gateway()
    {
        var clock = new FakeTimeProvider();
        var watch = new GatewayConnectionWatch(TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(1), clock);
        watch.NotifyGatewayCountChanged(2, 0, connectionRecovered: false);
        Assert.Equal(Timeout.InfiniteTimeSpan, watch.AttemptTimeout);
        var before = watch.Lost;

        watch.NotifyGatewayCountChanged(1, 2, connectionRecovered: false);
        Assert.True(before.IsCancellationRequested);
        Assert.False(watch.Lost.IsCancellationRequested);
        Assert.Equal(1, watch.Connected);
        Assert.Equal(TimeSpan.FromSeconds(1), watch.AttemptTimeout);

        clock.Advance(TimeSpan.FromSeconds(14.9));
        Assert.Equal(TimeSpan.FromSeconds(1), watch.AttemptTimeout);
        clock.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Equal(Timeout.InfiniteTimeSpan, watch.AttemptTimeout);

        // A gateway coming back is no loss; losing every gateway is.
        watch.NotifyGatewayCountChanged(2, 1, connectionRecovered: true);
        Assert.Equal(Timeout.InfiniteTimeSpan, watch.AttemptTimeout);
        watch.NotifyClusterConnectionLost();
        Assert.Equal(0, watch.Connected);
        Assert.Equal(TimeSpan.FromSeconds(1), watch.AttemptTimeout);
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
