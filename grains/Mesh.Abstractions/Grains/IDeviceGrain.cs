using Mesh.Abstractions.Models;

namespace Mesh.Abstractions.Grains;

/// <summary>
/// An edge device, keyed by device id (the same rule as model names): its registration and its twin, event-sourced
/// on the stream <c>device/ID</c>. Desired properties are set by the cloud, reported ones by the device; each side
/// owns its half, so neither overwrites the other.
/// </summary>
public interface IDeviceGrain : IGrainWithStringKey
{
    /// <summary>Registers the device (again: updates home region, models and labels); returns it.</summary>
    Task<DeviceInfo> RegisterAsync(DeviceRegistration registration);

    /// <summary>The device; throws DeviceNotFoundException if it never registered.</summary>
    Task<DeviceInfo> GetAsync();

    /// <summary>Merges desired properties into the twin (a null value removes the key).</summary>
    Task<DeviceInfo> SetDesiredAsync(Dictionary<string, string?> properties);

    /// <summary>Merges reported properties into the twin (a null value removes the key).</summary>
    Task<DeviceInfo> ReportAsync(Dictionary<string, string?> properties);
}

[GenerateSerializer, Immutable]
public sealed record DeviceRegistration(string HomeRegion, string[] Models, Dictionary<string, string>? Labels = null);

/// <summary>A device: where it belongs, what it runs, and its twin (desired by the cloud, reported by the device).</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceInfo(
    string Id,
    string HomeRegion,
    string[] Models,
    Dictionary<string, string> Labels,
    Dictionary<string, string> Desired,
    Dictionary<string, string> Reported,
    DateTimeOffset RegisteredAt);
