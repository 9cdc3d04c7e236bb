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
public sealed class MeshClient(IClusterClient cluster)
{
    /// <summary>Registers an ONNX file as the next version of <paramref name="model"/>.</summary>
    public Task<ModelVersionInfo> DeployAsync(string model, byte[] onnx, bool makeDefault = true) =>
        cluster.GetGrain<IModelGrain>(model).DeployAsync(onnx, makeDefault);

    /// <summary>Reads an ONNX file from disk and registers it as the next version of <paramref name="model"/>.</summary>
    public async Task<ModelVersionInfo> DeployFileAsync(string model, string path, bool makeDefault = true, CancellationToken cancellation = default) =>
        await DeployAsync(model, await File.ReadAllBytesAsync(path, cancellation), makeDefault);

    public Task<PredictResponse> PredictAsync(PredictRequest request) =>
        cluster.GetGrain<IInferenceGrain>(request.Model).PredictAsync(request);

    /// <summary>Predicts with the model's default version and returns every output.</summary>
    public Task<PredictResponse> PredictAsync(string model, params NamedTensor[] inputs) =>
        PredictAsync(new PredictRequest(model, inputs));

    public async Task<ModelInfo[]> ListModelsAsync()
    {
        var names = await cluster.GetGrain<IModelCatalogGrain>(0).ListAsync();
        return await Task.WhenAll(names.Select(GetModelAsync));
    }

    public Task<ModelInfo> GetModelAsync(string model) => cluster.GetGrain<IModelGrain>(model).GetAsync();

    /// <summary>One version with its signature.</summary>
    public Task<ModelVersionInfo> GetVersionAsync(string model, int version) =>
        cluster.GetGrain<IModelGrain>(model).GetVersionAsync(version);

    public Task<ModelInfo> SetDefaultVersionAsync(string model, int version) =>
        cluster.GetGrain<IModelGrain>(model).SetDefaultVersionAsync(version);
}
