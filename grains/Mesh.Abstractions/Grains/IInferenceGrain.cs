using Mesh.Abstractions.Inference;

namespace Mesh.Abstractions.Grains;

/// <summary>
/// The serving front door for a model (key: model name). A stateless worker: it is activated in the silo that
/// receives the call, as many times as load needs, and runs the predict on that silo's own loaded session, so
/// no single activation serves every predict of a model.
/// </summary>
public interface IInferenceGrain : IGrainWithStringKey
{
    Task<PredictResponse> PredictAsync(PredictRequest request);
}
