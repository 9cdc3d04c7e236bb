using Mesh.Abstractions.Events;
using Mesh.Abstractions.Inference;

namespace Mesh.Abstractions.Grains;

/// <summary>
/// The serving front door for a model. A stateless worker: it is activated in the silo that receives the call,
/// as many times as load needs, and runs the predict on that silo's own loaded session, so no single activation
/// serves every predict of a model. Key: see <see cref="InferenceLanes"/>.
/// </summary>
public interface IInferenceGrain : IGrainWithStringKey
{
    [InferRole]
    Task<PredictResponse> PredictAsync(PredictRequest request);

    /// <summary>
    /// Several predicts in one message (a client coalesces its concurrent predicts for a model). Each gets its own
    /// outcome: one bad request fails alone.
    /// </summary>
    [InferRole]
    Task<PredictOutcome[]> PredictManyAsync(PredictRequest[] requests);

    /// <summary>
    /// Several predicts whose inputs a client stacked into one request (see <c>TensorStacking</c>): request i
    /// holds <paramref name="rows"/>[i] consecutive rows. Served as one entry of the batcher when the model
    /// batches; otherwise, or when the stack fails its checks, each request is served alone so a bad one fails
    /// alone. The answer is the stacked outputs or, in the second case, one outcome per request.
    /// </summary>
    [InferRole]
    Task<StackedOutcome> PredictStackedAsync(PredictRequest stacked, int[] rows);
}

/// <summary>
/// The answer to <see cref="IInferenceGrain.PredictStackedAsync"/>: <see cref="Stacked"/> holds every request's
/// rows in order (the caller cuts them back), or <see cref="Each"/> holds one outcome per request.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StackedOutcome(PredictResponse? Stacked, PredictOutcome[]? Each);

/// <summary>The answer to one request of <see cref="IInferenceGrain.PredictManyAsync"/>: a response or the mesh's error.</summary>
[GenerateSerializer, Immutable]
public sealed record PredictOutcome(PredictResponse? Response, Errors.MeshException? Error);

/// <summary>
/// An Orleans client sends every message for one grain id through the same gateway (grains map to buckets,
/// buckets to gateway connections). Keyed by model alone, all of a client's predicts for a model would land
/// in one silo. Callers therefore spread predicts over several keys per model, its "lanes", which the client
/// maps to different gateways; the grain itself ignores the lane.
/// </summary>
public static class InferenceLanes
{
    public const int Default = 16;

    public static string Key(string model, int lane) => $"{model}#{lane}";
}
