using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Events;
using Microsoft.Extensions.Logging;

namespace Mesh.Grains.Devices;

/// <summary>A device's registration and twin, event-sourced on <c>device/ID</c>.</summary>
public sealed class DeviceGrain(IEventStore store, EventJournal journal, TimeProvider clock, ILogger<DeviceGrain> logger)
    : EventSourcedGrain<DeviceState>(store, journal, logger), IDeviceGrain
{
    private const int MaxProperties = 256;
    private const int MaxValueLength = 4096;

    private string Id => this.GetPrimaryKeyString();

    protected override string Stream => EventStreams.Device(Id);

    protected override void Apply(DeviceState state, object e, EventStamp stamp) => state.Apply((DeviceEvent)e);

    public async Task<DeviceInfo> RegisterAsync(DeviceRegistration registration)
    {
        CheckId();
        if (string.IsNullOrWhiteSpace(registration.HomeRegion))
            throw new InvalidDeviceChangeException(Id, "a registration names the device's home region");
        foreach (var model in registration.Models ?? []) ModelName.Validate(model);
        var labels = registration.Labels ?? [];
        Check(labels!, "label");
        await RaiseAsync(new DeviceRegistered(registration.HomeRegion, registration.Models ?? [], new Dictionary<string, string>(labels), clock.GetUtcNow()));
        return Info();
    }

    public Task<DeviceInfo> GetAsync() => Task.FromResult(Info());

    public async Task<DeviceInfo> SetDesiredAsync(Dictionary<string, string?> properties)
    {
        Info();
        Check(properties, "desired property");
        if (State.Desired.Count + properties.Count(p => p.Value is not null && !State.Desired.ContainsKey(p.Key)) > MaxProperties)
            throw new InvalidDeviceChangeException(Id, $"a twin holds at most {MaxProperties} desired properties");
        await RaiseAsync(new DeviceDesiredSet(Stored(properties)));
        return Info();
    }

    public async Task<DeviceInfo> ReportAsync(Dictionary<string, string?> properties)
    {
        Info();
        Check(properties, "reported property");
        if (State.Reported.Count + properties.Count(p => p.Value is not null && !State.Reported.ContainsKey(p.Key)) > MaxProperties)
            throw new InvalidDeviceChangeException(Id, $"a twin holds at most {MaxProperties} reported properties");
        await RaiseAsync(new DeviceReported(Stored(properties)));
        return Info();
    }

    // A removal travels as an empty value: JSON payloads keep plain string maps.
    private static Dictionary<string, string> Stored(Dictionary<string, string?> properties) =>
        properties.ToDictionary(p => p.Key, p => p.Value ?? "", StringComparer.Ordinal);

    private void Check(IReadOnlyDictionary<string, string?> properties, string what)
    {
        foreach (var (key, value) in properties)
        {
            if (string.IsNullOrWhiteSpace(key) || key.Length > 128)
                throw new InvalidDeviceChangeException(Id, $"a {what} name is 1 to 128 characters (was '{key}')");
            if (value is { Length: > MaxValueLength })
                throw new InvalidDeviceChangeException(Id, $"{what} '{key}' is {value.Length} characters, more than {MaxValueLength}");
            if (value is "")
                throw new InvalidDeviceChangeException(Id, $"{what} '{key}' is empty; send null to remove it");
        }
    }

    private void CheckId()
    {
        try
        {
            ModelName.Validate(Id);
        }
        catch (InvalidModelNameException)
        {
            throw new InvalidDeviceChangeException(Id, $"a device id is 1 to {ModelName.MaxLength} characters of A-Z, a-z, 0-9, '.', '_' or '-', starting with a letter or digit");
        }
    }

    private DeviceInfo Info() =>
        State.RegisteredAt is { } at
            ? new DeviceInfo(Id, State.HomeRegion, State.Models, new(State.Labels), new(State.Desired), new(State.Reported), at)
            : throw new DeviceNotFoundException(Id);
}

/// <summary>A device's state as the fold of its events.</summary>
public sealed class DeviceState
{
    public string HomeRegion { get; set; } = "";
    public string[] Models { get; set; } = [];
    public Dictionary<string, string> Labels { get; set; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Desired { get; set; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Reported { get; set; } = new(StringComparer.Ordinal);
    public DateTimeOffset? RegisteredAt { get; set; }

    public void Apply(DeviceEvent e)
    {
        switch (e)
        {
            case DeviceRegistered r:
                (HomeRegion, Models, Labels) = (r.HomeRegion, r.Models, new Dictionary<string, string>(r.Labels, StringComparer.Ordinal));
                RegisteredAt ??= r.At;
                break;
            case DeviceDesiredSet d:
                Merge(Desired, d.Properties);
                break;
            case DeviceReported r:
                Merge(Reported, r.Properties);
                break;
        }
    }

    private static void Merge(Dictionary<string, string> twin, Dictionary<string, string> changes)
    {
        foreach (var (key, value) in changes)
        {
            if (value.Length == 0) twin.Remove(key);
            else twin[key] = value;
        }
    }
}
