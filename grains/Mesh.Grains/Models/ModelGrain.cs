using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Mesh.Grains.Events;
using Mesh.Grains.Storage;
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
    ILogger<ModelGrain> logger) : EventSourcedGrain<ModelState>(store, journal, logger), IModelGrain
{
    private string Name => this.GetPrimaryKeyString();

    protected override string Stream => EventStreams.Model(Name);

    protected override void Apply(ModelState state, object e) => state.Apply((ModelEvent)e, Name);

    public async Task<ModelVersionInfo> DeployAsync(byte[] onnx, bool makeDefault = true, ModelLineage? lineage = null)
    {
        ModelName.Validate(Name);
        if (onnx is null || onnx.Length == 0)
            throw new InvalidModelException(Name, "the file is empty");
        lineage ??= ModelLineage.None;
        if (lineage.ParentVersion is int parent && Find(parent, requireModel: false) is null)
            throw new InvalidLifecycleChangeException(Name, "deploy", $"the lineage names parent version {parent}, which does not exist");

        // Load before storing anything: a file ONNX Runtime rejects leaves no artifact and no version behind.
        var signature = ModelSignatureReader.Read(Name, onnx, inference.Value.Session);
        var sha256 = ArtifactHash.Of(onnx);

        var existing = State.Versions.Find(v => v.ArtifactSha256 == sha256);
        if (existing is not null)
        {
            if (makeDefault && State.DefaultVersion != existing.Version)
                await PromoteAsync(existing.Version);
            return existing;
        }

        await artifacts.PutAsync(sha256, onnx);
        var number = State.Versions.Count == 0 ? 1 : State.Versions.Max(v => v.Version) + 1;
        await RaiseAsync(new ModelVersionRegistered(number, sha256, onnx.LongLength, signature, clock.GetUtcNow(), lineage, makeDefault));

        logger.LogInformation("Model {Model} version {Version} registered ({Bytes} bytes, sha256 {Sha256})", Name, number, onnx.Length, sha256);
        return Find(number)!;
    }

    public Task<ModelInfo> GetAsync() => Task.FromResult(Info());

    public Task<ModelVersionInfo> GetVersionAsync(int version) => Task.FromResult(Find(version)!);

    public async Task<ModelInfo> PromoteAsync(int version)
    {
        Serving(version, "promote");
        if (State.DefaultVersion != version || State.Traffic is not null)
            await RaiseAsync(new ModelVersionPromoted(version));
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
        await RaiseAsync(new ModelTrafficSplitSet(weights.OrderBy(w => w.Version).ToArray()));
        return Info();
    }

    public async Task<ModelInfo> SetShadowAsync(int? version)
    {
        Info();
        if (version is int v)
        {
            Serving(v, "shadow");
            if (State.Traffic is null && State.DefaultVersion == v)
                throw new InvalidLifecycleChangeException(Name, "shadow", $"version {v} already takes all traffic; a shadow must be another version");
        }
        if (State.ShadowVersion != version)
            await RaiseAsync(new ModelShadowSet(version));
        return Info();
    }

    public async Task<ModelInfo> RollbackAsync()
    {
        Info();
        int from, to;
        if (State.Traffic is { } split)
        {
            // A canary is running: all traffic goes back to the version that had all of it before the split.
            from = split.Where(w => w.Version != State.DefaultVersion).MaxBy(w => w.Percent)!.Version;
            to = State.DefaultVersion;
        }
        else
        {
            var history = State.FullTrafficHistory;
            var previous = history.Take(history.Count - 1).Reverse().Cast<int?>().FirstOrDefault(v => Find(v!.Value) is { Retired: false });
            if (previous is null)
                throw new InvalidLifecycleChangeException(Name, "rollback", $"no version had all traffic before version {State.DefaultVersion}");
            (from, to) = (State.DefaultVersion, previous.Value);
        }
        await RaiseAsync(new ModelRolledBack(from, to));
        return Info();
    }

    public async Task<ModelInfo> RetireAsync(int version)
    {
        const string change = "retire";
        var found = Find(version)!;
        if (found.Retired) return Info();
        if (State.Traffic is { } split && split.Any(w => w.Version == version))
            throw new InvalidLifecycleChangeException(Name, change, $"version {version} is in the traffic split; set a split without it first");
        if (State.Traffic is null && State.DefaultVersion == version)
            throw new InvalidLifecycleChangeException(Name, change, $"version {version} takes all traffic; promote another version first");
        await RaiseAsync(new ModelVersionRetired(version));
        return Info();
    }

    public async Task<ModelInfo> SetPolicyAsync(ServingPolicy policy)
    {
        Info();
        policy.Validate(Name);
        await RaiseAsync(new ModelPolicyChanged(policy));
        return Info();
    }

    private ModelInfo Info()
    {
        if (State.Versions.Count == 0)
            throw new ModelNotFoundException(Name);
        return State.ToInfo(Name);
    }

    private ModelVersionInfo? Find(int version, bool requireModel = true)
    {
        if (State.Versions.Count == 0)
            return requireModel ? throw new ModelNotFoundException(Name) : null;
        var found = State.Versions.Find(v => v.Version == version);
        return found is not null || !requireModel
            ? found
            : throw new ModelVersionNotFoundException(Name, version, State.Versions.Select(v => v.Version).ToArray());
    }

    // A version a change may send traffic to: it exists and is not retired.
    private void Serving(int version, string change)
    {
        if (Find(version)!.Retired)
            throw new InvalidLifecycleChangeException(Name, change, $"version {version} is retired");
    }
}
