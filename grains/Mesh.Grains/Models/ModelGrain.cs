using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Mesh.Grains.Events;
using Mesh.Grains.Replication;
using Mesh.Grains.Storage;
using Mesh.Grains.Telemetry;
using Mesh.Inference.Sessions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Models;

/// <summary>
/// A model's lifecycle, event-sourced on the stream <c>model/NAME</c>: each change is checked against the state,
/// then raised as an event (see <see cref="EventSourcedGrain{TState}"/>).
/// </summary>
public sealed class ModelGrain(
    IEventStore store,
    EventJournal journal,
    IArtifactStore artifacts,
    IOptions<InferenceOptions> inference,
    TimeProvider clock,
    ResidencyLookup residency,
    PeerConnections peers,
    IOptions<RegionOptions> regionOptions,
    MeshMetrics metrics,
    ILogger<ModelGrain> logger) : EventSourcedGrain<ModelState>(store, journal, logger), IModelGrain, IModelReplicaGrain
{
    private readonly IEventStore _store = store;
    private readonly string _region = journal.Region;
    private string Name => this.GetPrimaryKeyString();

    protected override string Stream => EventStreams.Model(Name);

    // 3: version numbers are the ones the registrations carry, not their positions.
    protected override int SnapshotSchema => 3;

    protected override void Apply(ModelState state, object e, EventStamp stamp) => state.Apply((ModelEvent)e, Name, stamp);

    public async Task<ModelVersionInfo> DeployAsync(byte[] onnx, bool makeDefault = true, ModelLineage? lineage = null, string[]? regions = null)
    {
        ModelName.Validate(Name);
        if (onnx is null || onnx.Length == 0)
            throw new InvalidModelException(Name, "the file is empty");
        lineage ??= ModelLineage.None;
        string? parentArtifact = null;
        if (lineage.ParentVersion is int parent && (parentArtifact = State.ArtifactOfNumber(parent)) is null)
            throw new InvalidLifecycleChangeException(Name, "deploy", $"the lineage names parent version {parent}, which does not exist");

        // Load before storing anything: a file ONNX Runtime rejects leaves no artifact and no version behind.
        var signature = ModelSignatureReader.Read(Name, onnx, inference.Value.Session);
        var sha256 = ArtifactHash.Of(onnx);

        if (State.NumberOf(sha256) is > 0 and var existing)
        {
            if (makeDefault && (State.DefaultArtifact != sha256 || State.Traffic?.Split is not null))
                await PromoteAsync(existing);
            return Find(State.NumberOf(sha256))!;
        }

        var pin = Residency(regions);
        // A name another region pinned away from this one is not free here: its first version here would replicate
        // into that region and take the pinned model over. (While that region cannot be asked, its own replica
        // refuses the events instead: ApplyReplicatedAsync.)
        if (!State.HasVersions) await residency.ThrowIfPinnedElsewhereAsync(Name, fresh: true);

        // Numbers come from the model's home region (VersionNumbering): elsewhere the deploy is the home's to number,
        // and only while the home cannot be reached does this region number it, from its own provisional range.
        var home = VersionNumbering.Home(_region, regionOptions.Value.Peers.Select(p => p.Name), regions ?? State.Regions);
        int number;
        if (home == _region)
        {
            number = State.NextNumber;
        }
        else
        {
            try
            {
                var numbered = await ForwardToHomeAsync(home, onnx, makeDefault, lineage, regions);
                logger.LogInformation("Model {Model} version {Version} registered by its home region {Home}", Name, numbered.Version, home);
                return numbered;
            }
            catch (Exception e) when (e is not MeshException)
            {
                number = State.NextProvisional(_region);
                logger.LogWarning("Model {Model}: home region {Home} cannot number a new version now ({Error}); numbered {Version} provisionally here",
                    Name, home, e.Message, number);
            }
        }
        await artifacts.PutAsync(sha256, onnx);
        await RaiseAsync([.. pin, new ModelVersionRegistered(number, sha256, onnx.LongLength, signature, clock.GetUtcNow(), lineage, makeDefault, parentArtifact)]);
        logger.LogInformation("Model {Model} version {Version} registered ({Bytes} bytes, sha256 {Sha256})", Name, number, onnx.Length, sha256);
        return Find(number)!;
    }

    // The home's model grain registers the version (its event comes back here by replication); bounded by the
    // peer call timeout, so a home that does not answer leaves the deploy to this region.
    private async Task<ModelVersionInfo> ForwardToHomeAsync(string home, byte[] onnx, bool makeDefault, ModelLineage lineage, string[]? regions)
    {
        var client = await peers.GetAsync(home);
        try
        {
            return await client.GetGrain<IModelGrain>(Name).DeployAsync(onnx, makeDefault, lineage, regions).WaitAsync(regionOptions.Value.PeerCallTimeout);
        }
        catch (Exception e) when (e is not MeshException)
        {
            await peers.ResetAsync(home);
            throw;
        }
    }

    public async Task<ModelInfo> GetAsync()
    {
        // Unknown here may mean pinned to other regions: then say so rather than "not deployed".
        if (!State.HasVersions) await residency.ThrowIfPinnedElsewhereAsync(Name);
        return Info();
    }

    public Task<string[]?> GetLocalResidencyAsync() => Task.FromResult(State.HasVersions ? State.Regions : null);

    public async Task ApplyReplicatedAsync(EventData[] events)
    {
        var fresh = new List<EventData>(events.Length);
        // Residency holds at the door too: a pinned model takes events only from the regions it is pinned to, so a
        // region that did not know of the pin (it was cut off when the name was pinned) cannot take the model over.
        var pinned = State.HasVersions ? State.Regions : null;
        foreach (var e in events)
        {
            if (await _store.ContainsAsync(e.Id)) continue;
            var decoded = (ModelEvent)EventCodec.Decode(new EventEnvelope(e.Id, Stream, 0, 0, e.Type, e.SchemaVersion, e.Timestamp, e.Actor, e.Region, e.Data, e.Hlc));
            if (pinned is not null && !pinned.Contains(e.Region, StringComparer.Ordinal))
            {
                metrics.ReplicationRefused(Name, e.Region, "residency");
                logger.LogWarning("Model {Model} is pinned to {Regions}: refused a replicated {Event} from region {Region}", Name, string.Join(", ", pinned), e.Type, e.Region);
                continue;
            }
            if (decoded is ModelResidencySet set) pinned ??= set.Regions;
            fresh.Add(e);
            if (State.RegisterWrite(decoded, new EventStamp(e.Hlc, e.Region)) is ({ } register, true))
                metrics.ConflictResolved(Name, register);
        }
        // An append holds at most 32 events; a long gap arrives in several.
        foreach (var chunk in fresh.Chunk(EventStoreRules.MaxEventsPerAppend)) await AppendReplicatedAsync(chunk);
    }

    public async Task<ModelVersionInfo> GetVersionAsync(int version)
    {
        await GetAsync();
        return Find(version)!;
    }

    public async Task<ModelInfo> PromoteAsync(int version)
    {
        var artifact = Serving(version, "promote");
        if (State.DefaultArtifact != artifact || State.Traffic?.Split is not null)
            await RaiseAsync(new ModelVersionPromoted(version, artifact));
        return Info();
    }

    public async Task<ModelInfo> SetTrafficAsync(TrafficWeight[] weights)
    {
        Info();
        const string change = "traffic split";
        if (weights is null || weights.Length == 0)
            throw new InvalidLifecycleChangeException(Name, change, "name at least one version and its percent");
        foreach (var w in weights)
        {
            Serving(w.Version, change);
            if (w.Percent is < 1 or > 100)
                throw new InvalidLifecycleChangeException(Name, change, $"version {w.Version} has {w.Percent}%, but each weight must be 1 to 100");
        }
        if (weights.Select(w => w.Version).Distinct().Count() != weights.Length)
            throw new InvalidLifecycleChangeException(Name, change, "a version is named twice");
        var sum = weights.Sum(w => w.Percent);
        if (sum != 100)
            throw new InvalidLifecycleChangeException(Name, change, $"the weights sum to {sum}, not 100");
        var ordered = weights.OrderBy(w => w.Version).ToArray();
        await RaiseAsync(new ModelTrafficSplitSet(ordered, ordered.Select(w => State.ArtifactOfNumber(w.Version)!).ToArray(), State.DefaultArtifact));
        return Info();
    }

    public async Task<ModelInfo> SetShadowAsync(int? version)
    {
        var info = Info();
        string? artifact = null;
        if (version is int v)
        {
            artifact = Serving(v, "shadow");
            if (info.Traffic is null && info.DefaultVersion == v)
                throw new InvalidLifecycleChangeException(Name, "shadow", $"version {v} already takes all traffic; a shadow must be another version");
        }
        if (info.ShadowVersion != version)
            await RaiseAsync(new ModelShadowSet(version, artifact));
        return Info();
    }

    public async Task<ModelInfo> RollbackAsync()
    {
        var info = Info();
        if (State.RollbackTarget() is not var (from, to))
            throw new InvalidLifecycleChangeException(Name, "rollback", $"no version had all traffic before version {info.DefaultVersion}");
        await RaiseAsync(new ModelRolledBack(State.NumberOf(from), State.NumberOf(to), from, to));
        return Info();
    }

    public async Task<ModelInfo> RetireAsync(int version)
    {
        const string change = "retire";
        var found = Find(version)!;
        if (found.Retired) return Info();
        var info = Info();
        if (info.Traffic is { } split && split.Any(w => w.Version == version))
            throw new InvalidLifecycleChangeException(Name, change, $"version {version} is in the traffic split; set a split without it first");
        if (info.Traffic is null && info.DefaultVersion == version)
            throw new InvalidLifecycleChangeException(Name, change, $"version {version} takes all traffic; promote another version first");
        await RaiseAsync(new ModelVersionRetired(version, found.ArtifactSha256));
        return Info();
    }

    public async Task<ModelInfo> SetServingAsync(bool serving)
    {
        if (Info().Unloaded == !serving) return Info();
        await RaiseAsync(new ModelServingSet(serving));
        return Info();
    }

    public async Task<ModelInfo> SetPolicyAsync(ServingPolicy policy)
    {
        Info();
        policy.Validate(Name);
        await RaiseAsync(new ModelPolicyChanged(policy));
        return Info();
    }

    public async Task SetDriftBaselineAsync(DriftBaseline baseline)
    {
        Info();
        if (baseline.Features.Length == 0 || baseline.Features.Any(f => f.Bins.Length != DriftBins.Count || f.Count < 1))
            throw new InvalidRequestException("baseline", $"needs at least one feature, each with observations and {DriftBins.Count} bins");
        if (baseline.Threshold is <= 0 or > 10 || baseline.MinSamples < 1)
            throw new InvalidRequestException("baseline", $"threshold must be in (0, 10] and min samples at least 1 (were {baseline.Threshold}, {baseline.MinSamples})");
        await RaiseAsync(new ModelDriftBaselineSet(baseline));
    }

    public Task<DriftBaseline?> GetDriftBaselineAsync() => Task.FromResult(State.HasVersions ? State.DriftBaseline : null);

    // Pinning is decided with the first version: events already shipped to a region cannot be taken back.
    private ModelEvent[] Residency(string[]? regions)
    {
        if (regions is null) return [];
        var pinned = regions.Where(r => !string.IsNullOrWhiteSpace(r)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        if (pinned.Length == 0)
            throw new InvalidLifecycleChangeException(Name, "residency", "name at least one region");
        if (State.HasVersions && !(State.Regions ?? []).SequenceEqual(pinned))
            throw new InvalidLifecycleChangeException(Name, "residency", "a model is pinned with its first version; it already has versions");
        if (!pinned.Contains(_region))
            throw new ModelResidencyException(Name, pinned, _region);
        return State.HasVersions ? [] : [new ModelResidencySet(pinned)];
    }

    private ModelInfo Info() => State.HasVersions ? State.ToInfo(Name) : throw new ModelNotFoundException(Name);

    private ModelVersionInfo? Find(int version)
    {
        var versions = Info().Versions;
        return Array.Find(versions, v => v.Version == version)
            ?? throw new ModelVersionNotFoundException(Name, version, versions.Select(v => v.Version).ToArray());
    }

    // A version a change may send traffic to: it exists and is not retired. Returns its artifact.
    private string Serving(int version, string change)
    {
        var found = Find(version)!;
        if (found.Retired)
            throw new InvalidLifecycleChangeException(Name, change, $"version {version} is retired");
        return found.ArtifactSha256;
    }
}
