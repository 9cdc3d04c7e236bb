using Mesh.Abstractions.Grains;
using Orleans.Placement;

namespace Mesh.Grains.Operations;

/// <summary>Holds the figures its silo publishes (placed on that silo, which is the only caller that writes).</summary>
[PreferLocalPlacement]
public sealed class SiloStatsGrain : Grain, ISiloStatsGrain
{
    private SiloStats? _latest;

    public Task PublishAsync(SiloStats stats)
    {
        _latest = stats;
        return Task.CompletedTask;
    }

    public Task<SiloStats?> GetAsync() => Task.FromResult(_latest);
}
