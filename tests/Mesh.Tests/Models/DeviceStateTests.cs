using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;
using Mesh.Grains.Devices;

namespace Mesh.Tests.Models;

public class DeviceStateTests
{
    private static DeviceResult Result(long sequence) => new(sequence, "m", 1, DateTimeOffset.UnixEpoch, "edge", null, []);

    [Fact]
    public void Results_settle_each_sequence_number_once_and_out_of_order_ones_leave_a_counted_gap_until_they_arrive()
    {
        var state = new DeviceState();
        state.Apply(new DeviceResultsSynced([Result(1), Result(2), Result(5)], DateTimeOffset.UnixEpoch));
        Assert.Equal(2, state.AppliedThrough);
        Assert.Equal(2, state.MissingCount);   // 3 and 4
        Assert.True(state.IsSettled(5));
        Assert.False(state.IsSettled(3));

        state.Apply(new DeviceResultsSynced([Result(3), Result(4)], DateTimeOffset.UnixEpoch));
        Assert.Equal(5, state.AppliedThrough);
        Assert.Equal(0, state.MissingCount);
        Assert.True(state.AppliedAbove.IsEmpty);
        Assert.Equal(5, state.Results);
    }

    [Fact]
    public void Declared_losses_close_the_gap_and_are_counted()
    {
        var state = new DeviceState();
        state.Apply(new DeviceResultsLost(1, 50, "outbox full", DateTimeOffset.UnixEpoch));
        state.Apply(new DeviceResultsSynced([Result(51)], DateTimeOffset.UnixEpoch));
        Assert.Equal(51, state.AppliedThrough);
        Assert.Equal(50, state.Lost);
        Assert.Equal(1, state.Results);
    }

    [Fact]
    public void Drift_reports_of_one_bridge_run_replace_each_other_and_runs_add_up()
    {
        static FeatureStatistics[] Seen(params float[] values)
        {
            var builder = new FeatureStatisticsBuilder();
            builder.Add([NamedTensor.Create("x", [values.Length, 1], values)]);
            return builder.Build();
        }
        var state = new DeviceState();
        state.Apply(new DeviceDriftReported("m", "run-1", Seen(1, 2)));
        state.Apply(new DeviceDriftReported("m", "run-1", Seen(1, 2, 3)));   // cumulative: replaces
        state.Apply(new DeviceDriftReported("m", "run-2", Seen(10)));
        var merged = Assert.Single(state.DriftOf("m"));
        Assert.Equal(4, merged.Count);
        Assert.Equal(4, merged.Mean, 9);
        Assert.Equal(Seen(1, 2, 3, 10)[0].Variance, merged.Variance, 9);
        Assert.Equal(Seen(1, 2, 3, 10)[0].Bins, merged.Bins);

        for (var run = 3; run < 10; run++) state.Apply(new DeviceDriftReported("m", $"run-{run}", Seen(run)));
        Assert.Equal(11, state.DriftOf("m")[0].Count);   // older runs folded, none lost
        Assert.True(state.Drift["m"].Count <= 5);
    }

    [Fact]
    public void The_population_stability_index_is_zero_for_equal_histograms_and_grows_with_a_shift()
    {
        var random = new Random(7);
        float[] Normal(double mean, int n) => Enumerable.Range(0, n).Select(_ => (float)(mean + Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray();
        long[] Bins(float[] values) => values.Aggregate(new long[DriftBins.Count], (bins, v) => { bins[DriftBins.Of(v)]++; return bins; });
        var baseline = Bins(Normal(0, 5000));
        Assert.Equal(0, DriftBins.Psi(baseline, baseline), 9);
        Assert.True(DriftBins.Psi(baseline, Bins(Normal(0, 2000))) < 0.05);
        Assert.True(DriftBins.Psi(baseline, Bins(Normal(1.5, 2000))) > 1);
    }
}
