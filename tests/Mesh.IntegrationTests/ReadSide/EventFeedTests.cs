using Mesh.Abstractions.Events;
using Mesh.Abstractions.Models;
using Mesh.Client;
using Mesh.Grains.Events;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;

namespace Mesh.IntegrationTests.ReadSide;

[Collection(TwoSiloClusterCollection.Name), Trait("Category", "Integration")]
public class EventFeedTests(TwoSiloCluster fixture)
{
    private async Task ChangeAsync(string model, int round)
    {
        await fixture.Mesh.DeployAsync(model, MlpModel.Build(new MlpModel.Options(Seed: 100 + round)));
        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 4 + round));
    }

    [Fact]
    public async Task A_consumer_that_disconnects_and_resumes_from_its_saved_position_gets_every_event_in_order()
    {
        var prefix = EventStreams.Model(TestModels.UniqueName("feed"));
        string[] models = [prefix[EventStreams.ModelPrefix.Length..] + "-a", prefix[EventStreams.ModelPrefix.Length..] + "-b"];
        var received = new List<EventEnvelope>();
        long saved = 0;

        // First connection: follows the feed live while changes happen, then drops after six events.
        using (var first = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            var consumer = Task.Run(async () =>
            {
                await foreach (var e in fixture.Mesh.ReadEventsAsync(1, prefix, follow: true, first.Token))
                {
                    received.Add(e);
                    saved = e.Position;
                    if (received.Count == 6) return;
                }
            });
            for (var round = 0; round < 3; round++)
                foreach (var model in models) await ChangeAsync(model, round);
            await consumer;
        }

        // While it is away, more changes.
        for (var round = 3; round < 5; round++)
            foreach (var model in models) await ChangeAsync(model, round);

        // Second connection, a new client: from the saved position on, to the newest event.
        var resumed = new MeshClient(fixture.Cluster.Client, "resumed");
        await foreach (var e in resumed.ReadEventsAsync(saved + 1, prefix)) received.Add(e);

        var stored = (await new SqliteEventStore(fixture.DataDirectory).ReadFeedAsync(1, 100_000)).Where(e => e.Stream.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        Assert.Equal(20, stored.Count);   // 2 models x 5 rounds x (registered + policy)
        Assert.Equal(stored.Select(e => e.Position), received.Select(e => e.Position));
        Assert.Equal(stored.Select(e => e.Id), received.Select(e => e.Id));
        foreach (var stream in received.GroupBy(e => e.Stream))
            Assert.Equal(Enumerable.Range(1, 10).Select(v => (long)v), stream.Select(e => e.Version));
    }

    [Fact]
    public async Task A_live_only_consumer_gets_the_events_stored_after_it_started()
    {
        var model = TestModels.UniqueName("live");
        await ChangeAsync(model, 0);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var head = await fixture.Mesh.GetEventHeadAsync();
        var live = new List<EventEnvelope>();
        var consumer = Task.Run(async () =>
        {
            await foreach (var e in fixture.Mesh.ReadEventsAsync(head + 1, EventStreams.Model(model), follow: true, stop.Token))
            {
                live.Add(e);
                if (live.Count == 2) return;
            }
        });

        await ChangeAsync(model, 1);
        await consumer;

        Assert.Equal(["model.version-registered", "model.policy-changed"], live.Select(e => e.Type));
        Assert.Equal([3L, 4L], live.Select(e => e.Version));
        Assert.Equal(new ModelPolicyChanged(new ServingPolicy(MaxBatchSize: 5)), EventCodec.Decode(live[1]));
    }

    [Fact]
    public async Task A_rebuilt_projection_equals_the_live_one()
    {
        var model = TestModels.UniqueName("rebuild");
        await ChangeAsync(model, 0);
        await fixture.Mesh.SetTrafficAsync(model, new TrafficWeight(1, 100));

        foreach (var name in new[] { "catalog", "audit" })
        {
            var live = await fixture.Mesh.ExportProjectionAsync(name);
            var position = await fixture.Mesh.RebuildProjectionAsync(name);
            Assert.True(position >= 3);
            Assert.Equal(live, await fixture.Mesh.ExportProjectionAsync(name));
        }
        Assert.Contains(await fixture.Mesh.ListModelsAsync(), m => m.Name == model);
        var audit = await fixture.Mesh.GetAuditAsync(model: model);
        Assert.Equal(["model.version-registered", "model.policy-changed", "model.traffic-split-set"], audit.Select(a => a.Type));
        Assert.Equal("traffic v1=100%", audit[^1].Summary);
    }
}
