using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;

namespace Mesh.Abstractions.Grains;

/// <summary>
/// An edge device, keyed by device id (the same rule as model names): its registration and its twin, event-sourced
/// on the stream <c>device/ID</c>. Desired properties are set by the cloud, reported ones by the device; each side
/// owns its half, so neither overwrites the other.
/// </summary>
public interface IDeviceGrain : IGrainWithStringKey
{
    /// <summary>
    /// Registers the device (again: updates home region, models and labels); returns it. The first registration
    /// issues the device's sync token, returned once in <see cref="DeviceInfo.Token"/>.
    /// </summary>
    Task<DeviceInfo> RegisterAsync(DeviceRegistration registration);

    /// <summary>The device; throws DeviceNotFoundException if it never registered.</summary>
    Task<DeviceInfo> GetAsync();

    /// <summary>Merges desired properties into the twin (a null value removes the key).</summary>
    Task<DeviceInfo> SetDesiredAsync(Dictionary<string, string?> properties);

    /// <summary>
    /// Sets which version of <paramref name="model"/> the device should run: <paramref name="version"/>, or, when
    /// the device's profile (label "profile", e.g. cpu-int8) names an optimization, the newest version derived
    /// from it with that optimization. Returns the version chosen.
    /// </summary>
    Task<ModelVersionInfo> AssignAsync(string model, int version);

    /// <summary>Merges reported properties into the twin (a null value removes the key).</summary>
    Task<DeviceInfo> ReportAsync(Dictionary<string, string?> properties);

    /// <summary>
    /// Issues the device a new sync token (the old one stops working) and returns it: the only time the mesh holds
    /// it in the clear; the device's stream keeps its SHA-256.
    /// </summary>
    Task<string> IssueTokenAsync();

    /// <summary>
    /// Takes a batch of the device's results. Each sequence number is applied once: a number already applied is
    /// counted as a duplicate and ignored, so the bridge may send a batch again after any failure. Throws
    /// <c>DeviceAuthenticationException</c> unless <paramref name="tokenSha256"/> is the current token's hash.
    /// </summary>
    Task<DeviceSyncAck> SyncAsync(string tokenSha256, DeviceSyncBatch batch);

    /// <summary>The device, if <paramref name="tokenSha256"/> is its current token's hash; otherwise DeviceAuthenticationException.</summary>
    Task<DeviceInfo> AuthenticateAsync(string tokenSha256);

    /// <summary>How the device's inputs for <paramref name="model"/> compare with the model's drift baseline.</summary>
    Task<DriftReport> GetDriftAsync(string model);
}

/// <summary>A bridge's input statistics for one model, cumulative since the bridge started (the epoch).</summary>
[GenerateSerializer, Immutable]
public sealed record DriftSample(string Model, string Epoch, FeatureStatistics[] Features);

/// <summary>One result the device produced, numbered by the device (1, 2, 3, ... without gaps unless some were lost).</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceResult(long Sequence, string Model, int Version, DateTimeOffset At, string Origin, string? InputSha256, NamedTensor[] Outputs,
    // The W3C trace context of the predict that made the result, when the bridge traced it.
    string? TraceParent = null);

/// <summary>Results the device dropped before they were synced (its outbox overflowed), declared so the gap is known.</summary>
[GenerateSerializer, Immutable]
public sealed record LostResults(long From, long To, string Reason);

/// <summary>A sync from a device: results in sequence order, declared losses, and reported twin properties.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceSyncBatch(DeviceResult[] Results, LostResults[]? Lost = null, Dictionary<string, string?>? Reported = null, DriftSample[]? Drift = null,
    // The W3C trace context of the bridge's send, carried in the batch so the mesh's handling joins that trace
    // whatever the HTTP hops in between do with headers.
    string? TraceParent = null);

/// <summary>
/// The mesh's answer to a sync: every sequence number up to <paramref name="AppliedThrough"/> is settled (applied
/// or declared lost), how many of this batch were new or duplicates, the numbers still missing below the highest
/// one seen, and the twin's desired properties (the cloud's half, which the device follows).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record DeviceSyncAck(long AppliedThrough, int Applied, int Duplicates, long MissingCount, Dictionary<string, string> Desired);

/// <summary>What the mesh holds of a device's results.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceSyncStatus(long AppliedThrough, long Results, long Lost, long MissingCount, DateTimeOffset? LastSyncAt);

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
    DateTimeOffset RegisteredAt,
    DeviceSyncStatus? Sync = null,
    string? Token = null,
    string[]? Drifting = null);
