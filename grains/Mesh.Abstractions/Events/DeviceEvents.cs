namespace Mesh.Abstractions.Events;

/// <summary>A change to a device's registration or twin, in the stream <c>device/ID</c>.</summary>
public abstract record DeviceEvent;

/// <summary>The device joined the mesh: its home region (where its events stay) and the models assigned to it.</summary>
public sealed record DeviceRegistered(string HomeRegion, string[] Models, Dictionary<string, string> Labels, DateTimeOffset At) : DeviceEvent;

/// <summary>The cloud set desired properties of the twin (what the device should become).</summary>
public sealed record DeviceDesiredSet(Dictionary<string, string> Properties) : DeviceEvent;

/// <summary>The device reported properties of the twin (what it is).</summary>
public sealed record DeviceReported(Dictionary<string, string> Properties) : DeviceEvent;
