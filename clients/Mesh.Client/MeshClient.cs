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

    /// <summary>Registers an ONNX file as the next version of <paramref name="model"/>.</summary>
    public Task<ModelVersionInfo> DeployAsync(string model, byte[] onnx, bool makeDefault = true) =>
        Model(model).DeployAsync(onnx, makeDefault);

    /// <summary>Reads an ONNX file from disk and registers it as the next version of <paramref name="model"/>.</summary>
    public async Task<ModelVersionInfo> DeployFileAsync(string model, string path, bool makeDefault = true, CancellationToken cancellation = default) =>
        await DeployAsync(model, await File.ReadAllBytesAsync(path, cancellation), makeDefault);

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

    public Task<ModelInfo> SetDefaultVersionAsync(string model, int version) =>
        Model(model).SetDefaultVersionAsync(version);

    public Task<ModelInfo> SetPolicyAsync(string model, ServingPolicy policy) => Model(model).SetPolicyAsync(policy);

    /// <summary>Usage per caller across the mesh, as of the silos' last flush (about a second ago).</summary>
    public Task<UsageRecord[]> GetUsageAsync() => cluster.GetGrain<IUsageLedgerGrain>(0).ListAsync();

    // Checked here as well as in the grain: Orleans itself refuses some bad keys (an empty one) with a plain
    // ArgumentException before any grain could name the rule.
    private IModelGrain Model(string model)
    {
        ModelName.Validate(model);
        return cluster.GetGrain<IModelGrain>(model);
    }
}
