using Mesh.Abstractions.Errors;

namespace Mesh.Abstractions.Models;

/// <summary>
/// How a model is served, set per model (<c>mesh policy</c>): dynamic batching as Triton's dynamic batcher does it,
/// the bounded queue, and the serverless life cycle. Applies in every silo; a change reaches each silo within its
/// routing-table refresh (about a second).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ServingPolicy(
    // Most rows one ONNX Runtime run takes; 1 turns batching off. Only models whose inputs and outputs all have
    // a symbolic first dimension are batched.
    int MaxBatchSize = ServingPolicy.DefaultMaxBatchSize,
    // How long a batch may wait for more requests once it has one; 0 dispatches as soon as a runner is free,
    // which still batches under load because requests gather while the runners are busy.
    int MaxQueueDelayMicroseconds = 0,
    // Batch sizes to dispatch at as soon as they are reached (Triton's preferred_batch_size).
    int[]? PreferredBatchSizes = null,
    // Requests that may wait per version per silo; one more is refused at once (overload).
    int MaxQueueSize = ServingPolicy.DefaultMaxQueueSize,
    // Sessions kept loaded in each silo that serves the model, from silo start on, whatever the idle time.
    int MinWarm = 0,
    // Idle time after which a session is unloaded; null: the silo's Mesh:Inference:IdleTimeout.
    TimeSpan? IdleTimeout = null,
    // Run one all-zero input when a session loads, so the first real request does not pay ONNX Runtime's first-run cost.
    bool WarmupOnLoad = false,
    // What an optimized version of the model must keep of the original's outputs to be published (mesh optimize
    // --deploy); thresholds given on its command line win.
    QualityGate? OptimizationGate = null)
{
    public const int DefaultMaxBatchSize = 32;
    public const int DefaultMaxQueueSize = 1024;
    public static readonly ServingPolicy Default = new();

    public bool Batches => MaxBatchSize > 1;

    /// <summary>Throws <see cref="InvalidPolicyException"/> naming the first field out of range.</summary>
    public void Validate(string model)
    {
        if (MaxBatchSize is < 1 or > 65536)
            throw new InvalidPolicyException(model, nameof(MaxBatchSize), $"must be 1 to 65536 (was {MaxBatchSize})");
        if (MaxQueueDelayMicroseconds is < 0 or > 10_000_000)
            throw new InvalidPolicyException(model, nameof(MaxQueueDelayMicroseconds), $"must be 0 to 10000000 (was {MaxQueueDelayMicroseconds})");
        if (PreferredBatchSizes?.FirstOrDefault(s => s < 1 || s > MaxBatchSize) is int bad and not 0)
            throw new InvalidPolicyException(model, nameof(PreferredBatchSizes), $"each must be 1 to MaxBatchSize {MaxBatchSize} (was {bad})");
        if (MaxQueueSize is < 1 or > 1_000_000)
            throw new InvalidPolicyException(model, nameof(MaxQueueSize), $"must be 1 to 1000000 (was {MaxQueueSize})");
        if (MinWarm is < 0 or > 1)
            throw new InvalidPolicyException(model, nameof(MinWarm), $"must be 0 or 1: a silo holds one session per version, shared by all its callers (was {MinWarm})");
        if (IdleTimeout is TimeSpan idle && idle <= TimeSpan.Zero)
            throw new InvalidPolicyException(model, nameof(IdleTimeout), $"must be positive (was {idle})");
        if (OptimizationGate is { MinCosine: < -1 or > 1 } cosine)
            throw new InvalidPolicyException(model, "OptimizationGate.MinCosine", $"must be -1 to 1 (was {cosine.MinCosine})");
        if (OptimizationGate is { MinTop1Agreement: < 0 or > 1 } top1)
            throw new InvalidPolicyException(model, "OptimizationGate.MinTop1Agreement", $"must be 0 to 1 (was {top1.MinTop1Agreement})");
        if (OptimizationGate is { MaxAbsoluteDifference: < 0 } diff)
            throw new InvalidPolicyException(model, "OptimizationGate.MaxAbsoluteDifference", $"must be 0 or more (was {diff.MaxAbsoluteDifference})");
    }
}

/// <summary>Thresholds an optimized model must meet against its original to be published; null: not checked.</summary>
[GenerateSerializer, Immutable]
public sealed record QualityGate(double? MinCosine = null, double? MinTop1Agreement = null, double? MaxAbsoluteDifference = null)
{
    /// <summary>This gate with each threshold <paramref name="over"/> gives taking its place.</summary>
    public QualityGate With(QualityGate over) => new(
        over.MinCosine ?? MinCosine, over.MinTop1Agreement ?? MinTop1Agreement, over.MaxAbsoluteDifference ?? MaxAbsoluteDifference);

    public bool IsEmpty => MinCosine is null && MinTop1Agreement is null && MaxAbsoluteDifference is null;
}
