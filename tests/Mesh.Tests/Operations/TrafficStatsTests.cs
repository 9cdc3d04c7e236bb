using Mesh.Grains.Telemetry;

namespace Mesh.Tests.Operations;

public class TrafficStatsTests
{
    [Fact]
    public void Totals_percentiles_and_rate_are_what_the_silo_served()
    {
        var stats = new TrafficStats();
        var start = new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero);
        Assert.Empty(stats.Snapshot(start));
        for (var ms = 1; ms <= 100; ms++) stats.Predicted("mlp", success: ms % 10 != 0, ms, requests: 1);
        stats.ColdStart("mlp");

        var first = Assert.Single(stats.Snapshot(start));
        Assert.Equal(("mlp", 100L, 10L, 1L), (first.Model, first.Requests, first.Failures, first.ColdStarts));
        Assert.Equal((50, 95, 99), (first.P50Ms, first.P95Ms, first.P99Ms));
        Assert.Equal(0, first.RequestsPerSecond);

        // A stacked predict counts as its requests; the rate is over the time since the last snapshot.
        stats.Predicted("mlp", success: true, 2, requests: 20);
        var second = Assert.Single(stats.Snapshot(start.AddSeconds(2)));
        Assert.Equal(120, second.Requests);
        Assert.Equal(10, second.RequestsPerSecond);
    }

    [Fact]
    public void Percentiles_cover_the_most_recent_1024_predicts()
    {
        var stats = new TrafficStats();
        for (var i = 0; i < 2000; i++) stats.Predicted("slow-then-fast", success: true, i < 976 ? 500 : 1, requests: 1);
        var figures = Assert.Single(stats.Snapshot(DateTimeOffset.UnixEpoch));
        Assert.Equal(2000, figures.Requests);
        Assert.Equal(1, figures.P99Ms);
    }
}
