namespace Mesh.Grains.Storage;

/// <summary>
/// Model files addressed by the SHA-256 of their bytes: writing the same bytes twice stores them once, and a
/// read returns exactly the bytes that were registered or fails.
/// </summary>
public interface IArtifactStore
{
    /// <summary>Stores <paramref name="bytes"/> under <paramref name="sha256"/> (lower-case hex) if not already there.</summary>
    Task PutAsync(string sha256, byte[] bytes, CancellationToken cancellation = default);

    /// <summary>
    /// A local file holding the artifact, its hash checked, for ONNX Runtime to load from disk: a large model then
    /// never becomes a managed array that lingers in the heap after its session is gone.
    /// </summary>
    Task<string> GetLocalFileAsync(string sha256, CancellationToken cancellation = default);
}

public sealed class ArtifactNotFoundException(string sha256, string reason)
    : Exception($"artifact {sha256}: {reason}");

public static class ArtifactHash
{
    public static string Of(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
}
