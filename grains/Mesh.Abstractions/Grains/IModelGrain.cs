using Mesh.Abstractions.Events;
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
    /// already holds them. With <paramref name="makeDefault"/> the new version takes all traffic.
    /// <paramref name="lineage"/> records where it came from.
    /// </summary>
    /// <paramref name="regions"/> pins a new model to those regions (this one among them): its events and
    /// artifacts never leave them, and other regions refuse its predicts with ModelResidencyException.
    Task<ModelVersionInfo> DeployAsync(byte[] onnx, bool makeDefault = true, ModelLineage? lineage = null, string[]? regions = null);

    /// <summary>The model and its versions; throws ModelNotFoundException if nothing was deployed under this name.</summary>
    [InferRole]
    Task<ModelInfo> GetAsync();

    /// <summary>One version; throws ModelVersionNotFoundException if it does not exist.</summary>
    [InferRole]
    Task<ModelVersionInfo> GetVersionAsync(int version);

    /// <summary>Gives <paramref name="version"/> all traffic: it answers every predict that names no version.</summary>
    Task<ModelInfo> PromoteAsync(int version);

    /// <summary>Splits the predicts that name no version across versions by percent (a canary); the weights sum to 100.</summary>
    Task<ModelInfo> SetTrafficAsync(TrafficWeight[] weights);

    /// <summary>Sends a copy of every predict to <paramref name="version"/> (answer compared, then dropped); null stops it.</summary>
    Task<ModelInfo> SetShadowAsync(int? version);

    /// <summary>Gives all traffic back to the last version that had all of it (ends a canary, or undoes a promote).</summary>
    Task<ModelInfo> RollbackAsync();

    /// <summary>Retires a version: it refuses predicts from then on. Not the version that takes all traffic, nor one in a split.</summary>
    Task<ModelInfo> RetireAsync(int version);

    /// <summary>
    /// Unloads the model (<paramref name="serving"/> false: every version refuses predicts and reads as not ready,
    /// in every silo and region) or loads it again; Triton's repository unload and load.
    /// </summary>
    Task<ModelInfo> SetServingAsync(bool serving);

    /// <summary>Sets how the model is served (batching, queue, warm sessions, idle time); validated first.</summary>
    Task<ModelInfo> SetPolicyAsync(ServingPolicy policy);

    /// <summary>Sets the reference distribution devices' inputs are compared with (last writer wins across regions).</summary>
    Task SetDriftBaselineAsync(DriftBaseline baseline);

    /// <summary>The model's drift baseline, or null when none was set.</summary>
    Task<DriftBaseline?> GetDriftBaselineAsync();
}
