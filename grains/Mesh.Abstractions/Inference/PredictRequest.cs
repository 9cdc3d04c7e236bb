using Mesh.Abstractions.Tensors;

namespace Mesh.Abstractions.Inference;

/// <summary>
/// A predict: a model, optionally a version (the model's default otherwise), named input tensors,
/// optionally which outputs to return (all tensor outputs otherwise), and optionally a deadline after which
/// the mesh drops it unrun and answers with <c>DeadlineExceededException</c>.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PredictRequest(string Model, NamedTensor[] Inputs, int? Version = null, string[]? Outputs = null, DateTimeOffset? Deadline = null);

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
