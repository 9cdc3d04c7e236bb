using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;

namespace Mesh.Client;

/// <summary>
/// The mesh as a caller sees it: deploy models, list them, read their signatures, and predict. Errors arrive as
/// the typed exceptions of <c>Mesh.Abstractions.Errors</c> (ModelNotFoundException, InputDimensionException, ...).
/// Thread-safe; one instance serves a whole application.
/// </summary>
public sealed class MeshClient(IClusterClient cluster, string? clientId = null)
{
    // Enough concurrent calls per model to keep every silo of a small cluster busy; beyond them predicts coalesce.
    private const int MaxCallsInFlightPerModel = 8;
    private const int MaxPredictsPerCall = 256;
    private int _lane;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, PredictCoalescer> _coalescers = new(StringComparer.Ordinal);

    /// <summary>
    /// Registers an ONNX file as the next version of <paramref name="model"/>; with <paramref name="makeDefault"/>
    /// it takes all traffic. <paramref name="lineage"/> records where it came from.
    /// </summary>
    public Task<ModelVersionInfo> DeployAsync(string model, byte[] onnx, bool makeDefault = true, ModelLineage? lineage = null) =>
        Model(model).DeployAsync(onnx, makeDefault, lineage);

    /// <summary>Reads an ONNX file from disk and registers it as the next version of <paramref name="model"/>.</summary>
    public async Task<ModelVersionInfo> DeployFileAsync(string model, string path, bool makeDefault = true, ModelLineage? lineage = null, CancellationToken cancellation = default) =>
        await DeployAsync(model, await File.ReadAllBytesAsync(path, cancellation), makeDefault, lineage);

    /// <summary>
    /// Runs a predict; it is metered to <c>request.Caller</c>, or to this client's id. Concurrent predicts for one
    /// model are coalesced into fewer messages under load (see <see cref="PredictCoalescer"/>).
    /// </summary>
    public Task<PredictResponse> PredictAsync(PredictRequest request)
    {
        ModelName.Validate(request.Model);
        if (request.Caller is null && clientId is not null) request = request with { Caller = clientId };
        var model = request.Model;
        return _coalescers.GetOrAdd(model, m => new PredictCoalescer(() => Lane(m), MaxCallsInFlightPerModel, MaxPredictsPerCall)).PredictAsync(request);
    }

    private IInferenceGrain Lane(string model)
    {
        var lane = (int)((uint)Interlocked.Increment(ref _lane) % InferenceLanes.Default);
        return cluster.GetGrain<IInferenceGrain>(InferenceLanes.Key(model, lane));
    }

    /// <summary>Predicts with the model's default version and returns every output.</summary>
    public Task<PredictResponse> PredictAsync(string model, params NamedTensor[] inputs) =>
        PredictAsync(new PredictRequest(model, inputs));

    public async Task<ModelInfo[]> ListModelsAsync()
    {
        var names = await cluster.GetGrain<IModelCatalogGrain>(0).ListAsync();
        return await Task.WhenAll(names.Select(GetModelAsync));
    }

    public Task<ModelInfo> GetModelAsync(string model) => Model(model).GetAsync();

    /// <summary>One version with its signature.</summary>
    public Task<ModelVersionInfo> GetVersionAsync(string model, int version) =>
        Model(model).GetVersionAsync(version);

    /// <summary>Gives <paramref name="version"/> all traffic: it answers every predict that names no version.</summary>
    public Task<ModelInfo> PromoteAsync(string model, int version) => Model(model).PromoteAsync(version);

    /// <summary>Splits traffic across versions by percent (a canary), e.g. (2, 10), (1, 90).</summary>
    public Task<ModelInfo> SetTrafficAsync(string model, params TrafficWeight[] weights) => Model(model).SetTrafficAsync(weights);

    /// <summary>Copies every predict to <paramref name="version"/> and compares its answer (null: stop).</summary>
    public Task<ModelInfo> SetShadowAsync(string model, int? version) => Model(model).SetShadowAsync(version);

    /// <summary>Gives all traffic back to the last version that had all of it.</summary>
    public Task<ModelInfo> RollbackAsync(string model) => Model(model).RollbackAsync();

    /// <summary>Retires a version: it refuses predicts from then on.</summary>
    public Task<ModelInfo> RetireAsync(string model, int version) => Model(model).RetireAsync(version);

    public Task<ModelInfo> SetPolicyAsync(string model, ServingPolicy policy) => Model(model).SetPolicyAsync(policy);

    /// <summary>Usage per caller across the mesh, as of the silos' last flush (about a second ago).</summary>
    public Task<UsageRecord[]> GetUsageAsync() => cluster.GetGrain<IUsageLedgerGrain>(0).ListAsync();

    // Checked here as well as in the grain: Orleans itself refuses some bad keys (an empty one) with a plain
    // ArgumentException before any grain could name the rule.
    private IModelGrain Model(string model)
    {
        ModelName.Validate(model);
        // The events a management call causes name this client as their actor (unless the caller set one).
        if (clientId is not null && MeshActor.Current == MeshActor.System) MeshActor.Set(clientId);
        return cluster.GetGrain<IModelGrain>(model);
    }
}
