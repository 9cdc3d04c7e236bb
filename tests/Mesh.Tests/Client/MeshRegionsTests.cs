using Mesh.Abstractions.Errors;
using Mesh.Client;

namespace Mesh.Tests.Client;

/// <summary>The pure rules of the multi-region SDK: which region is tried first, and which failures move a predict on.</summary>
public class MeshRegionsTests
{
    private static readonly TimeSpan Tolerance = TimeSpan.FromMilliseconds(5);

    [Fact]
    public void Without_measurements_the_configured_order_holds() =>
        Assert.Equal([0, 1, 2], MeshRegions.PreferenceOrder([null, null, null], Tolerance));

    [Fact]
    public void The_nearest_measured_region_goes_first_and_unmeasured_or_down_ones_last()
    {
        Assert.Equal([2, 0, 1], MeshRegions.PreferenceOrder([12.0, null, 1.5], Tolerance));
        Assert.Equal([1, 0], MeshRegions.PreferenceOrder([double.PositiveInfinity, 40.0], Tolerance));
    }

    [Fact]
    public void Regions_within_one_tolerance_step_keep_their_configured_order_whatever_the_noise()
    {
        // 3.9 ms and 1.2 ms are in the same 5 ms step: noisy probes must not swap them back and forth.
        Assert.Equal([0, 1], MeshRegions.PreferenceOrder([3.9, 1.2], Tolerance));
        Assert.Equal([1, 0], MeshRegions.PreferenceOrder([6.1, 1.2], Tolerance));
    }

    [Theory]
    [MemberData(nameof(Failures))]
    public void A_failure_of_the_region_moves_a_predict_on_and_a_failure_of_the_request_does_not(Exception error, bool regionFailed) =>
        Assert.Equal(regionFailed, MeshRegions.IsRegionFailure(error));

    public static TheoryData<Exception, bool> Failures() => new()
    {
        { new GatewayConnectionLostException(), true },
        { new TimeoutException(), true },
        { new OverloadedException("m", 1, 16, TimeSpan.FromMilliseconds(5)), true },
        { new System.Net.Sockets.SocketException(), true },
        { new ModelNotFoundException("m"), false },
        { new InputDimensionException("x", 1, [-1, 64], [1, 3]), false },
    };
}
