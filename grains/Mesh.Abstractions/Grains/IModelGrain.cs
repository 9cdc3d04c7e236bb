using Mesh.Abstractions.Models;

namespace Mesh.Abstractions.Grains;

/// <summary>
/// A model's registry entry, keyed by model name: its versions, their signatures and artifacts, and the
/// default version. Management only: predicts never pass through it (they resolve versions from a
/// silo-local cache, see <see cref="IInferenceGrain"/>).
/// </summary>
public interface IModelGrain : IGrainWithStringKey
{
    /// <summary>
    /// Registers an ONNX file as the model's next version and returns it. The bytes are checked by loading
    /// them in ONNX Runtime before anything is stored; the same bytes deployed again return the version that
    /// already holds them. With <paramref name="makeDefault"/> the new version answers predicts that name no version.
    /// </summary>
    Task<ModelVersionInfo> DeployAsync(byte[] onnx, bool makeDefault = true);

    /// <summary>The model and its versions; throws ModelNotFoundException if nothing was deployed under this name.</summary>
    Task<ModelInfo> GetAsync();

    /// <summary>One version; throws ModelVersionNotFoundException if it does not exist.</summary>
    Task<ModelVersionInfo> GetVersionAsync(int version);

    /// <summary>Makes <paramref name="version"/> the one that answers predicts naming no version.</summary>
    Task<ModelInfo> SetDefaultVersionAsync(int version);

    /// <summary>Sets how the model is served (batching, queue, warm sessions, idle time); validated first.</summary>
    Task<ModelInfo> SetPolicyAsync(ServingPolicy policy);
}

/// <summary>The names of every deployed model (one activation, key 0). Management only.</summary>
public interface IModelCatalogGrain : IGrainWithIntegerKey
{
    Task<string[]> ListAsync();
    Task AddAsync(string model);
}
