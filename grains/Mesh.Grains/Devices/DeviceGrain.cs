using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Events;
using Mesh.Protocol;
using Mesh.Abstractions.Telemetry;
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

    // 2: applied numbers above the gap are ranges, not one entry per number.
    protected override int SnapshotSchema => 2;

    protected override void Apply(DeviceState state, object e, EventStamp stamp) => state.Apply((DeviceEvent)e);

    // The fold keeps only which numbers are settled: replay reads those and skips the results' outputs.
    protected override object DecodeForFold(EventEnvelope envelope) =>
        envelope.Type == EventCodec.TypeName(typeof(DeviceResultsSynced))
            ? EventCodec.DecodeAs<DeviceResultsSettled>(envelope)
            : base.DecodeForFold(envelope);

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
        // The events below are written in this span's trace, so the read models that fold them join it.
        using var span = MeshMetrics.StartServerSpan(MeshTelemetry.Spans.DeviceApply);
        span?.SetTag(MeshTelemetry.Tags.Device, Id);
        Authenticate(tokenSha256);
        CheckBatch(batch);

        var now = clock.GetUtcNow();
        var events = new List<object>();
        foreach (var lost in batch.Lost ?? [])
        {
            if (State.AppliedThrough == long.MaxValue) break;
            var from = Math.Max(lost.From, State.AppliedThrough + 1);
            if (from <= lost.To) events.Add(new DeviceResultsLost(from, lost.To, lost.Reason, now));
        }
        var fresh = batch.Results.Where(r => !State.IsSettled(r.Sequence)).DistinctBy(r => r.Sequence).OrderBy(r => r.Sequence).ToArray();
        // Each result's predict context served as a link of the sync span; the events keep the apply span's
        // context, not 55 more bytes per result.
        foreach (var chunk in fresh.Chunk(ResultsPerEvent))
            events.Add(new DeviceResultsSynced(chunk.Select(r => r.TraceParent is null ? r : r with { TraceParent = null }).ToArray(), now));
        if (batch.Reported is { Count: > 0 } reported && reported.Any(p => State.Reported.GetValueOrDefault(p.Key) != p.Value))
        {
            CheckReported(reported);
            events.Add(new DeviceReported(Stored(reported)));
        }
        foreach (var sample in batch.Drift ?? [])
        {
            ModelName.Validate(sample.Model);
            if (sample.Features.Any(f => f.Bins.Length != DriftBins.Count))
                throw new InvalidDeviceChangeException(Id, $"drift statistics carry {DriftBins.Count} bins per feature");
            if (State.DriftCount(sample.Model, sample.Epoch) != sample.Features.Sum(f => f.Count))
                events.Add(new DeviceDriftReported(sample.Model, sample.Epoch, sample.Features));
        }
        foreach (var append in events.Chunk(EventStoreRules.MaxEventsPerAppend)) await RaiseAsync(append);
        foreach (var model in (batch.Drift ?? []).Select(d => d.Model).Distinct()) await EvaluateDriftAsync(model);

        var duplicates = batch.Results.Length - fresh.Length;
        metrics.DeviceSynced(fresh.Length, duplicates);
        return new DeviceSyncAck(State.AppliedThrough, fresh.Length, duplicates, State.MissingCount, new(State.Desired));
    }

    public Task<DeviceInfo> AuthenticateAsync(string tokenSha256) => Task.FromResult(Authenticate(tokenSha256));

    public async Task<DriftReport> GetDriftAsync(string model)
    {
        Info();
        var baseline = await GrainFactory.GetGrain<IModelGrain>(model).GetDriftBaselineAsync();
        return DriftOf(model, baseline);
    }

    private DriftReport DriftOf(string model, DriftBaseline? baseline)
    {
        var features = State.DriftOf(model);
        var samples = features.Length == 0 ? 0 : features.Max(f => f.Count);
        if (baseline is null) return new DriftReport(Id, model, samples, 0, null, null, false);
        var worst = features
            .Select(f => (f, Baseline: baseline.Features.FirstOrDefault(b => b.Input == f.Input && b.Feature == f.Feature)))
            .Where(x => x.Baseline is not null)
            .Select(x => (x.f.Input, x.f.Feature, Psi: DriftBins.Psi(x.Baseline!.Bins, x.f.Bins)))
            .OrderByDescending(x => x.Psi)
            .FirstOrDefault();
        var drifting = samples >= baseline.MinSamples && worst.Psi > baseline.Threshold;
        return new DriftReport(Id, model, samples, worst.Psi, worst.Input, worst.Input is null ? null : worst.Feature, drifting);
    }

    // A drift event when the state changes (and only with enough samples to say): consumers react to the event.
    private async Task EvaluateDriftAsync(string model)
    {
        var baseline = await GrainFactory.GetGrain<IModelGrain>(model).GetDriftBaselineAsync();
        if (baseline is null) return;
        var report = DriftOf(model, baseline);
        var was = State.Drifting.Contains(model);
        if (report.Drifting && !was)
        {
            await RaiseAsync(new DeviceDriftDetected(model, report.Input!, report.Feature!.Value, report.MaxPsi, report.Samples, clock.GetUtcNow()));
            logger.LogWarning("Device {Device}: inputs of {Model} drifted (PSI {Psi:F3} on {Input}[{Feature}] over {Samples} samples)", Id, model, report.MaxPsi, report.Input, report.Feature, report.Samples);
        }
        else if (!report.Drifting && was && report.Samples >= baseline.MinSamples)
        {
            await RaiseAsync(new DeviceDriftCleared(model, report.MaxPsi, report.Samples, clock.GetUtcNow()));
        }
    }

    // An unknown id is refused exactly as a wrong token is: a caller without a token learns nothing of which ids exist.
    private DeviceInfo Authenticate(string tokenSha256)
    {
        var info = State.ToInfo(Id) ?? throw new DeviceAuthenticationException(Id);
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

    public async Task<ModelVersionInfo> AssignAsync(string model, int version)
    {
        var device = Info();
        if (!device.Models.Contains(model, StringComparer.Ordinal))
            throw new InvalidDeviceChangeException(Id, $"model '{model}' is not assigned to it (assigned: {(device.Models.Length == 0 ? "none" : string.Join(", ", device.Models))})");
        var info = await GrainFactory.GetGrain<IModelGrain>(model).GetAsync();
        var named = info.Versions.FirstOrDefault(v => v.Version == version)
                    ?? throw new ModelVersionNotFoundException(model, version, info.Versions.Select(v => v.Version).ToArray());
        var chosen = named;
        // A profile like "cpu-int8" asks for the variant made from the named version with that kind of optimization.
        if (device.Labels.TryGetValue(DesiredKeys.ProfileLabel, out var profile) && profile.Split('-', 2) is [_, var kind] && kind != "fp32")
        {
            chosen = info.Versions
                .Where(v => !v.Retired && v.Lineage?.ParentVersion == version && v.Lineage.Optimization?.StartsWith(kind, StringComparison.Ordinal) == true)
                .MaxBy(v => v.Version) ?? named;
        }
        await SetDesiredAsync(new Dictionary<string, string?>
        {
            [DesiredKeys.Version(model)] = chosen.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [DesiredKeys.Sha256(model)] = chosen.ArtifactSha256,
        });
        return chosen;
    }

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
        CheckReported(properties);
        await RaiseAsync(new DeviceReported(Stored(properties)));
        return Info();
    }

    // One rule for a reported twin, whether it comes from ReportAsync or with a sync.
    private void CheckReported(IReadOnlyDictionary<string, string?> properties)
    {
        Check(properties, "reported property");
        if (State.Reported.Count + properties.Count(p => p.Value is not null && !State.Reported.ContainsKey(p.Key)) > MaxProperties)
            throw new InvalidDeviceChangeException(Id, $"a twin holds at most {MaxProperties} reported properties");
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

    private DeviceInfo Info() => State.ToInfo(Id) ?? throw new DeviceNotFoundException(Id);
}

/// <summary>One bridge run's cumulative input statistics for a model.</summary>
public sealed record DriftEpoch(string Epoch, FeatureStatistics[] Features);

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

    /// <summary>Numbers applied or declared lost above <see cref="AppliedThrough"/> (past a gap), as ranges.</summary>
    public SequenceRanges AppliedAbove { get; set; } = new();

    public long Results { get; set; }
    public long Lost { get; set; }
    public DateTimeOffset? LastSyncAt { get; set; }

    /// <summary>Per model, per bridge run (epoch), the newest cumulative input statistics; older runs folded into "*".</summary>
    public Dictionary<string, List<DriftEpoch>> Drift { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Models whose inputs are drifting on this device now.</summary>
    public HashSet<string> Drifting { get; set; } = new(StringComparer.Ordinal);

    private const string FoldedEpochs = "*";
    private const int EpochsKept = 4;

    public long DriftCount(string model, string epoch) =>
        Drift.TryGetValue(model, out var epochs) && epochs.Find(e => e.Epoch == epoch) is { } run ? run.Features.Sum(f => f.Count) : -1;

    /// <summary>The model's input statistics over every bridge run.</summary>
    public FeatureStatistics[] DriftOf(string model) =>
        !Drift.TryGetValue(model, out var epochs) ? [] : Merge(epochs.SelectMany(e => e.Features));

    private static FeatureStatistics[] Merge(IEnumerable<FeatureStatistics> features) =>
        features.GroupBy(f => (f.Input, f.Feature)).Select(g => g.Aggregate((a, b) => a.Merge(b))).ToArray();

    /// <summary>The device as callers see it; null if it never registered.</summary>
    public DeviceInfo? ToInfo(string id) =>
        RegisteredAt is { } at
            ? new DeviceInfo(id, HomeRegion, Models, new(Labels), new(Desired), new(Reported), at,
                new DeviceSyncStatus(AppliedThrough, Results, Lost, MissingCount, LastSyncAt), Drifting: Drifting.Order(StringComparer.Ordinal).ToArray())
            : null;

    public bool IsSettled(long sequence) => sequence <= AppliedThrough || AppliedAbove.Contains(sequence);

    /// <summary>Numbers below the highest applied one that are neither applied nor declared lost.</summary>
    public long MissingCount => AppliedAbove.IsEmpty ? 0 : AppliedAbove.Max - AppliedThrough - AppliedAbove.Count;

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
            case DeviceResultsSettled settled:
                foreach (var result in settled.Results) Settle(result.Sequence);
                Results += settled.Results.Length;
                LastSyncAt = settled.At;
                break;
            case DeviceDriftReported d:
                if (!Drift.TryGetValue(d.Model, out var epochs)) Drift[d.Model] = epochs = [];
                epochs.RemoveAll(e => e.Epoch == d.Epoch);
                epochs.Add(new DriftEpoch(d.Epoch, d.Features));
                // Bounded: runs before the newest few are final (a bridge reports only its current one) and merge
                // into the first entry, "*".
                while (epochs.Count(e => e.Epoch != FoldedEpochs) > EpochsKept)
                {
                    var oldest = epochs.First(e => e.Epoch != FoldedEpochs);
                    var folded = epochs.Find(e => e.Epoch == FoldedEpochs);
                    epochs.Remove(oldest);
                    if (folded is not null) epochs.Remove(folded);
                    epochs.Insert(0, new DriftEpoch(FoldedEpochs, Merge((folded?.Features ?? []).Concat(oldest.Features))));
                }
                break;
            case DeviceDriftDetected d:
                Drifting.Add(d.Model);
                break;
            case DeviceDriftCleared d:
                Drifting.Remove(d.Model);
                break;
            case DeviceResultsLost lost:
                Lost = Lost > long.MaxValue - (lost.To - lost.From + 1) ? long.MaxValue : Lost + (lost.To - lost.From + 1);
                if (lost.From <= AppliedThrough + 1) AppliedThrough = Math.Max(AppliedThrough, lost.To);
                else AppliedAbove.Add(lost.From, lost.To);
                AppliedAbove.RemoveThrough(AppliedThrough);
                Advance();
                break;
        }
    }

    private void Settle(long sequence)
    {
        if (sequence <= AppliedThrough) return;
        AppliedAbove.Add(sequence, sequence);
        Advance();
    }

    private void Advance()
    {
        if (AppliedThrough < long.MaxValue && AppliedAbove.TakeRangeStartingAt(AppliedThrough + 1) is long to) AppliedThrough = to;
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

/// <summary>What the device's fold reads of a stored <see cref="DeviceResultsSynced"/>: the numbers, not the outputs.</summary>
internal sealed record DeviceResultsSettled(DeviceResultsSettled.Number[] Results, DateTimeOffset At) : DeviceEvent
{
    internal sealed record Number(long Sequence);
}
