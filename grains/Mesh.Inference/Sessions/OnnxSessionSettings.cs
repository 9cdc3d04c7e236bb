namespace Mesh.Inference.Sessions;

/// <summary>
/// How ONNX Runtime sessions are created. The defaults fit a small machine: one intra-op thread per session,
/// parallelism coming from concurrent callers, because two spinning ORT threads fight Orleans for two cores
/// (docs/measurements.md).
/// </summary>
public sealed class OnnxSessionSettings
{
    public const int DefaultIntraOpThreads = 1;
    public const int DefaultInterOpThreads = 1;

    /// <summary>Threads ONNX Runtime may use inside one operator. 0 lets it pick one per core.</summary>
    public int IntraOpThreads { get; set; } = DefaultIntraOpThreads;

    /// <summary>Threads ONNX Runtime may use to run independent operators at once.</summary>
    public int InterOpThreads { get; set; } = DefaultInterOpThreads;

    /// <summary>Whether idle ORT worker threads spin waiting for work (fast hand-off, but burns a core).</summary>
    public bool AllowSpinning { get; set; }
}
