using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;

namespace Mesh.Abstractions.Events;

/// <summary>A change to a device's registration or twin, in the stream <c>device/ID</c>.</summary>
public abstract record DeviceEvent;

/// <summary>The device joined the mesh: its home region (where its events stay) and the models assigned to it.</summary>
public sealed record DeviceRegistered(string HomeRegion, string[] Models, Dictionary<string, string> Labels, DateTimeOffset At) : DeviceEvent;

/// <summary>The cloud set desired properties of the twin (what the device should become).</summary>
public sealed record DeviceDesiredSet(Dictionary<string, string> Properties) : DeviceEvent;

/// <summary>The device reported properties of the twin (what it is).</summary>
public sealed record DeviceReported(Dictionary<string, string> Properties) : DeviceEvent;

/// <summary>The mesh issued the device a sync token; only its SHA-256 is kept.</summary>
public sealed record DeviceTokenIssued(string TokenSha256, DateTimeOffset At) : DeviceEvent;

/// <summary>Results the device synced, each sequence number for the first time (duplicates never reach the log).</summary>
public sealed record DeviceResultsSynced(DeviceResult[] Results, DateTimeOffset At) : DeviceEvent;

/// <summary>The device declared results it dropped before syncing them (sequence numbers From to To).</summary>
public sealed record DeviceResultsLost(long From, long To, string Reason, DateTimeOffset At) : DeviceEvent;

/// <summary>
/// Input statistics a device's bridge has gathered for a model since it started (<paramref name="Epoch"/> names
/// that run): cumulative, so the newest report of an epoch replaces the earlier ones and a resent one changes nothing.
/// </summary>
public sealed record DeviceDriftReported(string Model, string Epoch, FeatureStatistics[] Features) : DeviceEvent;

/// <summary>The device's inputs for a model moved away from the model's baseline (PSI above its threshold).</summary>
public sealed record DeviceDriftDetected(string Model, string Input, int Feature, double Psi, long Samples, DateTimeOffset At) : DeviceEvent;

/// <summary>The device's inputs for a model are back within the baseline's threshold.</summary>
public sealed record DeviceDriftCleared(string Model, double Psi, long Samples, DateTimeOffset At) : DeviceEvent;

/// <summary>A region's devices in aggregate, recorded when it changes; replicated to every region (device events are not).</summary>
public sealed record FleetSummaryRecorded(FleetSummary Summary);
