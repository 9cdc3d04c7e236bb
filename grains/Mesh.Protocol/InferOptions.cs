namespace Mesh.Protocol;

/// <summary>
/// What an Open Inference Protocol request asks beyond its tensors: an id to echo, a deadline (Triton's
/// <c>parameters.timeout</c>, microseconds), and which outputs come back as binary data (Triton's binary tensor
/// extension: <c>binary_data_output</c> for all, <c>binary_data</c> per output, the latter winning), and the
/// priority (Triton's <c>parameters.priority</c>: 1 is high, anything else normal).
/// </summary>
public sealed record InferOptions(
    string? Id = null,
    TimeSpan? Timeout = null,
    bool AllOutputsBinary = false,
    IReadOnlyDictionary<string, bool>? OutputBinary = null,
    Mesh.Abstractions.Inference.PredictPriority Priority = Mesh.Abstractions.Inference.PredictPriority.Normal)
{
    public static readonly InferOptions Default = new();

    public bool IsBinary(string output) =>
        OutputBinary is not null && OutputBinary.TryGetValue(output, out var binary) ? binary : AllOutputsBinary;
}
