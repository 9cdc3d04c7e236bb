using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;
using Orleans.Concurrency;

namespace Mesh.Grains.Inference;

/// <summary>
/// Stateless worker: Orleans activates it in whichever silo receives the predict (as many copies as load asks
/// for), and it hands the predict to that silo's <see cref="LocalInference"/>. Reentrant because it keeps no state:
/// a copy waiting for its batch does not hold up the predicts behind it.
/// </summary>
[StatelessWorker, Reentrant]
public sealed class InferenceGrain(LocalInference local) : Grain, IInferenceGrain
{
    public Task<PredictResponse> PredictAsync(PredictRequest request) => local.PredictAsync(request);

    public Task<PredictOutcome[]> PredictManyAsync(PredictRequest[] requests) => local.PredictManyAsync(requests);

    public Task<StackedOutcome> PredictStackedAsync(PredictRequest stacked, int[] rows) => local.PredictStackedAsync(stacked, rows);
}
