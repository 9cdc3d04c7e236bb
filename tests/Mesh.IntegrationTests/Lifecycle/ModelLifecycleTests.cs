using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Telemetry;
using Mesh.Grains.Events;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;

namespace Mesh.IntegrationTests.Lifecycle;

[Collection(UncachedRoutingClusterCollection.Name), Trait("Category", "Integration")]
public class ModelLifecycleTests(UncachedRoutingCluster fixture)
{
    private static readonly byte[] V1 = TestModels.Mlp;
    private static readonly byte[] V2 = MlpModel.Build(new MlpModel.Options(Seed: 2));
    private static readonly byte[] V3 = MlpModel.Build(new MlpModel.Options(Seed: 3));

    private async Task<string> DeployThreeAsync(string prefix)
    {
        var model = TestModels.UniqueName(prefix);
        await fixture.Mesh.DeployAsync(model, V1);
        await fixture.Mesh.DeployAsync(model, V2, makeDefault: false, new ModelLineage(ParentVersion: 1, TrainingDataHash: "sha256:abc", Notes: "retrained"));
        await fixture.Mesh.DeployAsync(model, V3, makeDefault: false, new ModelLineage(ParentVersion: 2, Optimization: "none"));
        return model;
    }

    private Task<PredictResponse> Predict(string model, int? version = null, string? key = null) =>
        fixture.Mesh.PredictAsync(new PredictRequest(model, [TestModels.MlpInput(1)], Version: version, RoutingKey: key));

    [Fact, Trait("Category", "Slow")]
    public async Task A_90_10_canary_over_ten_thousand_predicts_lands_within_two_points()
    {
        var model = await DeployThreeAsync("canary");
        var info = await fixture.Mesh.SetTrafficAsync(model, new TrafficWeight(2, 10), new TrafficWeight(1, 90));
        Assert.Equal([new TrafficWeight(1, 90), new TrafficWeight(2, 10)], info.Traffic!);

        var versions = new List<int>(10_000);
        for (var wave = 0; wave < 10; wave++)
            versions.AddRange((await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ => Predict(model)))).Select(r => r.Version));

        var share = versions.Count(v => v == 2) / 100.0;
        Assert.InRange(share, 8.0, 12.0);
        Assert.Equal(10_000, versions.Count(v => v is 1 or 2));
    }

    [Fact]
    public async Task Predicts_with_the_same_routing_key_always_hit_the_same_version()
    {
        var model = await DeployThreeAsync("sticky");
        await fixture.Mesh.SetTrafficAsync(model, new TrafficWeight(1, 50), new TrafficWeight(3, 50));

        var byKey = new Dictionary<string, HashSet<int>>();
        for (var round = 0; round < 10; round++)
        {
            var keys = Enumerable.Range(0, 40).Select(k => $"user-{k}").ToList();
            var answers = await Task.WhenAll(keys.Select(k => Predict(model, key: k)));
            for (var i = 0; i < keys.Count; i++)
            {
                if (!byKey.TryGetValue(keys[i], out var seen)) byKey[keys[i]] = seen = [];
                seen.Add(answers[i].Version);
            }
        }

        Assert.All(byKey, e => Assert.Single(e.Value));
        Assert.Equal([1, 3], byKey.Values.Select(v => v.Single()).Distinct().Order());
    }

    [Fact]
    public async Task A_shadow_gets_a_copy_of_each_predict_and_its_agreement_is_counted()
    {
        using var meter = new MeshMeterRecorder();
        var model = TestModels.UniqueName("shadow");
        await fixture.Mesh.DeployAsync(model, V1);
        // The same graph with a different doc string: other bytes (a new version), the same answers.
        await fixture.Mesh.DeployAsync(model, [.. V1, 0x32, 0x01, (byte)'x'], makeDefault: false);
        await fixture.Mesh.DeployAsync(model, V2, makeDefault: false);

        await fixture.Mesh.SetShadowAsync(model, 2);
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Predict(model)));
        Assert.All(answers, a => Assert.Equal(1, a.Version));
        await WaitUntil(() => meter.Sum(MeshTelemetry.Instruments.ShadowComparisons, model) >= 20, "20 shadow comparisons");
        Assert.Equal(20, meter.Sum(MeshTelemetry.Instruments.ShadowComparisons, model, ("mesh.outcome", "agree")));

        await fixture.Mesh.SetShadowAsync(model, 3);
        await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Predict(model)));
        await WaitUntil(() => meter.Sum(MeshTelemetry.Instruments.ShadowComparisons, model) >= 30, "10 more shadow comparisons");
        Assert.Equal(10, meter.Sum(MeshTelemetry.Instruments.ShadowComparisons, model, ("mesh.outcome", "disagree")));
        Assert.Null((await fixture.Mesh.SetShadowAsync(model, null)).ShadowVersion);
    }

    [Fact]
    public async Task Rollback_returns_all_traffic_to_the_last_version_that_had_it()
    {
        var model = await DeployThreeAsync("rollback");
        await fixture.Mesh.PromoteAsync(model, 2);

        // A canary on top of version 2, rolled back: version 2 has all traffic again.
        await fixture.Mesh.SetTrafficAsync(model, new TrafficWeight(2, 90), new TrafficWeight(3, 10));
        var info = await fixture.Mesh.RollbackAsync(model);
        Assert.Equal((2, (TrafficWeight[]?)null), (info.DefaultVersion, info.Traffic));

        // Undo the promote of 2: back to 1. Nothing had all traffic before 1.
        info = await fixture.Mesh.RollbackAsync(model);
        Assert.Equal(1, info.DefaultVersion);
        Assert.Equal(1, (await Predict(model)).Version);
        var e = await Assert.ThrowsAsync<InvalidLifecycleChangeException>(() => fixture.Mesh.RollbackAsync(model));
        Assert.Equal($"model '{model}' rollback: no version had all traffic before version 1; nothing was changed", e.Message);
    }

    [Fact]
    public async Task A_retired_version_refuses_predicts_and_takes_no_traffic()
    {
        var model = await DeployThreeAsync("retire");
        Assert.Equal(2, (await Predict(model, version: 2)).Version);

        var info = await fixture.Mesh.RetireAsync(model, 2);
        Assert.True(info.FindVersion(2)!.Retired);

        var refused = await Assert.ThrowsAsync<ModelVersionRetiredException>(() => Predict(model, version: 2));
        Assert.Equal($"model '{model}' version 2 is retired and serves no predicts; name another version or none", refused.Message);
        Assert.Equal(1, (await Predict(model)).Version);
        await Assert.ThrowsAsync<InvalidLifecycleChangeException>(() => fixture.Mesh.SetTrafficAsync(model, new TrafficWeight(1, 50), new TrafficWeight(2, 50)));
        await Assert.ThrowsAsync<InvalidLifecycleChangeException>(() => fixture.Mesh.PromoteAsync(model, 2));
        var current = await Assert.ThrowsAsync<InvalidLifecycleChangeException>(() => fixture.Mesh.RetireAsync(model, 1));
        Assert.Contains("version 1 takes all traffic; promote another version first", current.Message);
    }

    [Fact]
    public async Task Bad_lifecycle_changes_are_refused_naming_the_rule_and_change_nothing()
    {
        var model = await DeployThreeAsync("badlife");
        await fixture.Mesh.SetTrafficAsync(model, new TrafficWeight(1, 80), new TrafficWeight(2, 20));
        var before = await fixture.Mesh.GetModelAsync(model);

        var unknown = await Assert.ThrowsAsync<ModelVersionNotFoundException>(() => fixture.Mesh.SetTrafficAsync(model, new TrafficWeight(1, 90), new TrafficWeight(9, 10)));
        Assert.Equal($"model '{model}' has no version 9 (versions: 1, 2, 3)", unknown.Message);
        var sum = await Assert.ThrowsAsync<InvalidLifecycleChangeException>(() => fixture.Mesh.SetTrafficAsync(model, new TrafficWeight(1, 90), new TrafficWeight(2, 20)));
        Assert.Equal($"model '{model}' traffic split: the weights sum to 110, not 100; nothing was changed", sum.Message);
        await Assert.ThrowsAsync<InvalidLifecycleChangeException>(() => fixture.Mesh.SetTrafficAsync(model, new TrafficWeight(1, 100), new TrafficWeight(1, 0)));
        await Assert.ThrowsAsync<InvalidLifecycleChangeException>(() => fixture.Mesh.SetTrafficAsync(model));
        await Assert.ThrowsAsync<InvalidLifecycleChangeException>(() => fixture.Mesh.DeployAsync(model, V1, lineage: new ModelLineage(ParentVersion: 7)));

        var after = await fixture.Mesh.GetModelAsync(model);
        Assert.Equal(before.Traffic, after.Traffic);
        Assert.Equal(before.Versions.Length, after.Versions.Length);
    }

    [Fact]
    public async Task Lineage_is_kept_with_each_version()
    {
        var model = await DeployThreeAsync("lineage");
        var info = await fixture.Mesh.GetModelAsync(model);
        Assert.Equal(ModelLineage.None, info.FindVersion(1)!.Lineage);
        Assert.Equal(new ModelLineage(1, "sha256:abc", null, "retrained"), info.FindVersion(2)!.Lineage);
        Assert.Equal(new ModelLineage(2, null, "none", null), info.FindVersion(3)!.Lineage);
    }

    [Fact]
    public async Task Every_change_is_an_event_in_the_models_stream_with_actor_and_region()
    {
        var model = await DeployThreeAsync("events");
        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 8));
        await fixture.Mesh.SetTrafficAsync(model, new TrafficWeight(1, 95), new TrafficWeight(3, 5));
        await fixture.Mesh.RollbackAsync(model);
        await fixture.Mesh.RetireAsync(model, 3);

        var events = await new SqliteEventStore(fixture.DataDirectory).ReadStreamAsync(EventStreams.Model(model));
        Assert.Equal(
            ["model.version-registered", "model.version-registered", "model.version-registered", "model.policy-changed",
             "model.traffic-split-set", "model.rolled-back", "model.version-retired"],
            events.Select(e => e.Type));
        Assert.All(events, e => Assert.Equal(("system", fixture.Cluster.Options.ClusterId), (e.Actor, e.Region)));
        var info = await fixture.Mesh.GetModelAsync(model);
        Assert.Equal(new ModelRolledBack(3, 1, info.FindVersion(3)!.ArtifactSha256, info.FindVersion(1)!.ArtifactSha256), EventCodec.Decode(events[5]));
        Assert.All(events.Zip(events.Skip(1)), pair => Assert.True(pair.Second.Hlc > pair.First.Hlc, "stamps grow along a stream"));
    }

    [Fact]
    public async Task A_malformed_event_in_the_store_is_a_clear_error_naming_the_stream_and_version()
    {
        var model = TestModels.UniqueName("corrupt");
        var store = new SqliteEventStore(fixture.DataDirectory);
        await store.AppendAsync(EventStreams.Model(model), 0, [new EventData(Guid.NewGuid(), "model.version-registered", 1, DateTimeOffset.UtcNow, "tester", "dev", "{not json")]);

        var e = await Assert.ThrowsAsync<CorruptEventException>(() => fixture.Mesh.GetModelAsync(model));
        Assert.StartsWith($"event stream 'model/{model}' version 1 (type 'model.version-registered') cannot be read: the payload is not valid JSON", e.Message);
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(condition(), $"timed out waiting for {what}");
    }
}
