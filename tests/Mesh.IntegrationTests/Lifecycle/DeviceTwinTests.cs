using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Events;
using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Lifecycle;

[Collection(TwoSiloClusterCollection.Name), Trait("Category", "Integration")]
public class DeviceTwinTests(TwoSiloCluster fixture)
{
    [Fact]
    public async Task Registration_and_twin_changes_are_events_and_each_side_keeps_its_half()
    {
        var id = TestModels.UniqueName("cam");
        await Assert.ThrowsAsync<DeviceNotFoundException>(() => fixture.Mesh.GetDeviceAsync(id));

        var registered = await fixture.Mesh.RegisterDeviceAsync(id, new DeviceRegistration("west", ["fraud"], new() { ["site"] = "dock-4" }));
        Assert.StartsWith("mesh_", registered.Token);
        Assert.Null((await fixture.Mesh.RegisterDeviceAsync(id, new DeviceRegistration("west", ["fraud"], new() { ["site"] = "dock-4" }))).Token);
        await fixture.Mesh.SetDeviceDesiredAsync(id, new() { ["model.fraud"] = "v2", ["interval"] = "5s" });
        await fixture.Mesh.ReportDeviceAsync(id, new() { ["model.fraud"] = "v1", ["battery"] = "81" });
        var device = await fixture.Mesh.SetDeviceDesiredAsync(id, new() { ["interval"] = null });

        Assert.Equal(("west", "fraud", "dock-4"), (device.HomeRegion, Assert.Single(device.Models), device.Labels["site"]));
        Assert.Equal(new Dictionary<string, string> { ["model.fraud"] = "v2" }, device.Desired);
        Assert.Equal(new Dictionary<string, string> { ["model.fraud"] = "v1", ["battery"] = "81" }, device.Reported);
        var events = await new SqliteEventStore(fixture.DataDirectory).ReadStreamAsync(EventStreams.Device(id));
        // The first registration also issues the device's sync token (only its hash is stored).
        Assert.Equal(["device.registered", "device.token-issued", "device.registered", "device.desired-set", "device.reported", "device.desired-set"], events.Select(e => e.Type));
        Assert.Contains((await fixture.Mesh.GetAuditAsync(limit: 1000)), a => a.Stream == EventStreams.Device(id) && a.Type == "device.reported");
    }

    [Fact]
    public async Task Bad_device_changes_are_refused_naming_the_rule()
    {
        var id = TestModels.UniqueName("bad");
        await Assert.ThrowsAsync<DeviceNotFoundException>(() => fixture.Mesh.ReportDeviceAsync(id, new() { ["a"] = "1" }));
        var region = await Assert.ThrowsAsync<InvalidDeviceChangeException>(() => fixture.Mesh.RegisterDeviceAsync(id, new DeviceRegistration("", [])));
        Assert.Equal($"device '{id}': a registration names the device's home region; nothing was changed", region.Message);
        await Assert.ThrowsAsync<InvalidModelNameException>(() => fixture.Mesh.RegisterDeviceAsync(id, new DeviceRegistration("west", ["no spaces"])));
        var badId = await Assert.ThrowsAsync<InvalidDeviceChangeException>(() => fixture.Mesh.RegisterDeviceAsync("-dash", new DeviceRegistration("west", [])));
        Assert.Contains("a device id is 1 to 128 characters", badId.Message);
        await fixture.Mesh.RegisterDeviceAsync(id, new DeviceRegistration("west", []));
        var empty = await Assert.ThrowsAsync<InvalidDeviceChangeException>(() => fixture.Mesh.ReportDeviceAsync(id, new() { ["a"] = "" }));
        Assert.Equal($"device '{id}': reported property 'a' is empty; send null to remove it; nothing was changed", empty.Message);
        Assert.Empty((await fixture.Mesh.GetDeviceAsync(id)).Reported);
    }

    [Fact]
    public async Task A_long_stream_is_snapshotted_and_loads_back_the_same()
    {
        var model = TestModels.UniqueName("snap");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        for (var i = 1; i <= 60; i++) await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxQueueSize: 100 + i));

        var store = new SqliteEventStore(fixture.DataDirectory);
        var snapshot = await store.ReadSnapshotAsync(EventStreams.Model(model));
        Assert.Equal(EventSourcedGrain<object>.SnapshotEvery, snapshot!.Version);
        Assert.Equal(3, snapshot.SchemaVersion);
        // What an activation does: the snapshot, then the events after it.
        var state = EventCodec.Deserialize<EventSourcedGrain<Mesh.Grains.Models.ModelState>.Snapshot>(snapshot.Data)!.State;
        foreach (var e in await store.ReadStreamAsync(EventStreams.Model(model), snapshot.Version + 1))
            state.Apply((ModelEvent)EventCodec.Decode(e), model, EventStamp.Of(e));
        Assert.Equal(EventCodec.Serialize(await fixture.Mesh.GetModelAsync(model)), EventCodec.Serialize(state.ToInfo(model)));
        Assert.Equal(160, state.Policy!.MaxQueueSize);
    }
}
