using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Serving;

/// <summary>Cold start on the first call, warm after, scale to zero when idle, cold again on the next call.</summary>
[Collection(ShortIdleClusterCollection.Name), Trait("Category", "Integration")]
public class SessionLifecycleTests(ShortIdleCluster fixture)
{
    [Fact]
    public async Task First_predict_cold_starts_then_warm_then_idle_unloads_then_cold_again()
    {
        using var meter = new MeshMeterRecorder();
        var model = TestModels.UniqueName("lifecycle");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        var input = TestModels.MlpInput(1);

        var first = await fixture.Mesh.PredictAsync(model, input);
        Assert.True(first.ColdStart);
        Assert.Equal(1, meter.ColdStarts(model));
        Assert.Equal(1, meter.LoadedSessions(model));

        for (var i = 0; i < 100; i++)
            Assert.False((await fixture.Mesh.PredictAsync(model, input)).ColdStart);
        Assert.Equal(1, meter.ColdStarts(model));
        Assert.Equal(101, meter.Count(Mesh.Abstractions.Telemetry.MeshTelemetry.Instruments.PredictRequests, model));

        // Idle timeout is 1 s and the sweep runs every 100 ms: the session goes within a few seconds.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (meter.LoadedSessions(model) > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Equal(0, meter.LoadedSessions(model));

        var again = await fixture.Mesh.PredictAsync(model, input);
        Assert.True(again.ColdStart);
        Assert.Equal(2, meter.ColdStarts(model));
        Assert.Equal(1, meter.LoadedSessions(model));
    }
}
