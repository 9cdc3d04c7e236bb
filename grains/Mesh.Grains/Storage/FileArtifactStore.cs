using Mesh.Grains.Configuration;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Storage;

/// <summary>
/// The embedded default artifact store: one file per artifact under {DataDirectory}/artifacts/sha256/ab/abcd....onnx.
/// Files are written to a temporary name and renamed, so a crash never leaves a half-written artifact under
/// its hash; reads check the hash, so a damaged file is reported, never loaded.
/// </summary>
public sealed class FileArtifactStore(IOptions<StorageOptions> options) : IArtifactStore
{
    private readonly string _root = Path.Combine(options.Value.FullDataDirectory, "artifacts", "sha256");

    public async Task PutAsync(string sha256, byte[] bytes, CancellationToken cancellation = default)
    {
        var path = PathOf(sha256);
        if (File.Exists(path)) return;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
        {
            await file.WriteAsync(bytes, cancellation);
            file.Flush(flushToDisk: true);
        }
        try
        {
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another writer stored the same bytes first; content addressing makes them equal.
            File.Delete(temporary);
        }
    }

    public async Task<string> GetLocalFileAsync(string sha256, CancellationToken cancellation = default)
    {
        var path = PathOf(sha256);
        if (!File.Exists(path))
            throw new ArtifactNotFoundException(sha256, $"no file at {path}");
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var actual = Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(file, cancellation));
        if (actual != sha256)
            throw new ArtifactNotFoundException(sha256, $"the file at {path} is damaged (its SHA-256 is {actual})");
        return path;
    }

    /// <summary>Deletes the local file of an artifact, if any (a cache in front of a remote store drops a damaged copy).</summary>
    public void Discard(string sha256)
    {
        var path = PathOf(sha256);
        if (File.Exists(path)) File.Delete(path);
    }

    private string PathOf(string sha256)
    {
        if (sha256.Length != 64 || !sha256.All(Uri.IsHexDigit))
            throw new ArgumentException($"'{sha256}' is not a SHA-256 in hex", nameof(sha256));
        return Path.Combine(_root, sha256[..2], sha256 + ".onnx");
    }
}
