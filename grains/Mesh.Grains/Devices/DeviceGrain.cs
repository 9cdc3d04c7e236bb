using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Events;
using Mesh.Abstractions.Protocol;
using Mesh.Grains.Telemetry;
using Microsoft.Extensions.Logging;
using System.Security.Cryptography;

namespace Mesh.Grains.Devices;

/// <summary>
/// A device's registration, twin, sync token and results, event-sourced on <c>device/ID</c>. Results arrive from the
/// edge bridge numbered by the device; the fold keeps which numbers are applied, so a batch sent again (after a
/// crash, a lost answer, a partition) adds nothing: delivery is at least once, the effect exactly once.
/// </summary>
public sealed class DeviceGrain(IEventStore store, EventJournal journal, TimeProvider clock, MeshMetrics metrics, ILogger<DeviceGrain> logger)
    : EventSourcedGrain<DeviceState>(store, journal, logger), IDeviceGrain
{
    private const int MaxProperties = 256;
    private const int MaxValueLength = 4096;

    /// <summary>Most results one sync may carry; the bridge sends fewer (Mesh:Edge:Sync:BatchSize).</summary>
    public const int MaxResultsPerSync = 2048;

    // Results per event: an event's JSON stays far below Azure Table's 64 KiB property limit for small outputs.
    private const int ResultsPerEvent = 64;

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
        var registered = new DeviceRegistered(registration.HomeRegion, registration.Models ?? [], new Dictionary<string, string>(labels), clock.GetUtcNow());
        if (State.TokenSha256 is not null)
        {
            await RaiseAsync(registered);
            return Info();
        }
        var token = ApiKeys.New();
        await RaiseAsync(registered, new DeviceTokenIssued(ApiKeys.Hash(token), clock.GetUtcNow()));
        return Info() with { Token = token };
    }

    public async Task<string> IssueTokenAsync()
    {
        Info();
        var token = ApiKeys.New();
        await RaiseAsync(new DeviceTokenIssued(ApiKeys.Hash(token), clock.GetUtcNow()));
        return token;
    }

    public async Task<DeviceSyncAck> SyncAsync(string tokenSha256, DeviceSyncBatch batch)
    {
        Authenticate(tokenSha256);
        CheckBatch(batch);

        var now = clock.GetUtcNow();
        var events = new List<object>();
        foreach (var lost in batch.Lost ?? [])
        {
            var from = Math.Max(lost.From, State.AppliedThrough + 1);
            if (from <= lost.To) events.Add(new DeviceResultsLost(from, lost.To, lost.Reason, now));
        }
        var fresh = batch.Results.Where(r => !State.IsSettled(r.Sequence)).DistinctBy(r => r.Sequence).OrderBy(r => r.Sequence).ToArray();
        foreach (var chunk in fresh.Chunk(ResultsPerEvent)) events.Add(new DeviceResultsSynced(chunk, now));
        if (batch.Reported is { Count: > 0 } reported && reported.Any(p => State.Reported.GetValueOrDefault(p.Key) != p.Value))
        {
            Check(reported, "reported property");
            events.Add(new DeviceReported(Stored(reported)));
        }
        foreach (var append in events.Chunk(EventStoreRules.MaxEventsPerAppend)) await RaiseAsync(append);

        var duplicates = batch.Results.Length - fresh.Length;
        metrics.DeviceSynced(fresh.Length, duplicates);
        return new DeviceSyncAck(State.AppliedThrough, fresh.Length, duplicates, State.MissingCount, new(State.Desired));
    }

    public Task<DeviceInfo> AuthenticateAsync(string tokenSha256) => Task.FromResult(Authenticate(tokenSha256));

    private DeviceInfo Authenticate(string tokenSha256)
    {
        var info = Info();
        if (State.TokenSha256 is not { } expected || tokenSha256 is not { Length: 64 } || !tokenSha256.All(char.IsAsciiHexDigit)
            || !CryptographicOperations.FixedTimeEquals(Convert.FromHexString(expected), Convert.FromHexString(tokenSha256)))
            throw new DeviceAuthenticationException(Id);
        return info;
    }

    private void CheckBatch(DeviceSyncBatch batch)
    {
        if (batch.Results.Length > MaxResultsPerSync)
            throw new InvalidDeviceChangeException(Id, $"a sync carries at most {MaxResultsPerSync} results (was {batch.Results.Length})");
        foreach (var result in batch.Results)
        {
            if (result.Sequence < 1)
                throw new InvalidDeviceChangeException(Id, $"result sequence numbers start at 1 (was {result.Sequence})");
            ModelName.Validate(result.Model);
        }
        foreach (var lost in batch.Lost ?? [])
        {
            if (lost.From < 1 || lost.To < lost.From)
                throw new InvalidDeviceChangeException(Id, $"a lost range runs from 1 or more to at least its start (was {lost.From}-{lost.To})");
        }
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
            ? new DeviceInfo(Id, State.HomeRegion, State.Models, new(State.Labels), new(State.Desired), new(State.Reported), at,
                new DeviceSyncStatus(State.AppliedThrough, State.Results, State.Lost, State.MissingCount, State.LastSyncAt))
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
    public string? TokenSha256 { get; set; }

    /// <summary>Every sequence number up to this one is applied or declared lost.</summary>
    public long AppliedThrough { get; set; }

    /// <summary>Numbers applied above <see cref="AppliedThrough"/> (results that arrived after a gap).</summary>
    public HashSet<long> AppliedAbove { get; set; } = [];

    public long Results { get; set; }
    public long Lost { get; set; }
    public DateTimeOffset? LastSyncAt { get; set; }

    public bool IsSettled(long sequence) => sequence <= AppliedThrough || AppliedAbove.Contains(sequence);

    /// <summary>Numbers below the highest applied one that are neither applied nor declared lost.</summary>
    public long MissingCount => AppliedAbove.Count == 0 ? 0 : AppliedAbove.Max() - AppliedThrough - AppliedAbove.Count;

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
            case DeviceTokenIssued t:
                TokenSha256 = t.TokenSha256;
                break;
            case DeviceResultsSynced synced:
                foreach (var result in synced.Results) Settle(result.Sequence);
                Results += synced.Results.Length;
                LastSyncAt = synced.At;
                break;
            case DeviceResultsLost lost:
                Lost += lost.To - lost.From + 1;
                if (lost.From <= AppliedThrough + 1) AppliedThrough = Math.Max(AppliedThrough, lost.To);
                else for (var s = lost.From; s <= lost.To; s++) AppliedAbove.Add(s);
                AppliedAbove.RemoveWhere(s => s <= AppliedThrough);
                Advance();
                break;
        }
    }

    private void Settle(long sequence)
    {
        if (sequence <= AppliedThrough) return;
        AppliedAbove.Add(sequence);
        Advance();
    }

    private void Advance()
    {
        while (AppliedAbove.Remove(AppliedThrough + 1)) AppliedThrough++;
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
