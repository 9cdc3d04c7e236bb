using Mesh.Abstractions.Tensors;

namespace Mesh.Abstractions.Inference;

/// <summary>
/// A predict: a model, optionally a version (the model's default otherwise), named input tensors,
/// optionally which outputs to return (all tensor outputs otherwise), optionally a deadline after which the
/// mesh drops it unrun (<c>DeadlineExceededException</c>), a priority, the caller it is metered to, and a routing
/// key: while a model's traffic is split across versions (canary), predicts with the same key go to the same version.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PredictRequest(
    string Model,
    NamedTensor[] Inputs,
    int? Version = null,
    string[]? Outputs = null,
    DateTimeOffset? Deadline = null,
    PredictPriority Priority = PredictPriority.Normal,
    string? Caller = null,
    string? RoutingKey = null);

/// <summary>High-priority requests leave the queue before normal ones.</summary>
public enum PredictPriority
{
    Normal = 0,
    High = 1,
}

/// <summary>
/// The answer to a predict. <see cref="ColdStart"/> says this call loaded the session in the silo that served it;
/// <see cref="ServedBy"/> names that silo.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PredictResponse(string Model, int Version, NamedTensor[] Outputs, bool ColdStart, string ServedBy)
{
    public NamedTensor Output(string name) =>
        Array.Find(Outputs, o => o.Name == name) ?? throw new KeyNotFoundException($"output '{name}' is not in the response of model '{Model}' version {Version}");
}
