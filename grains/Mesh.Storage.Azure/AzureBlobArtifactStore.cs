using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Mesh.Grains.Storage;

namespace Mesh.Storage.Azure;

/// <summary>
/// Model artifacts in Azure Blob Storage, one blob per SHA-256, written once (a second write of the same bytes
/// finds the blob and stops). ONNX Runtime loads from a local file, so each silo keeps a hash-checked copy in its
/// data folder (<see cref="FileArtifactStore"/>) and fetches the blob on first use or when the copy is damaged.
/// </summary>
public sealed class AzureBlobArtifactStore(BlobContainerClient container, FileArtifactStore localCopies) : IArtifactStore
{
    private readonly SemaphoreSlim _created = new(1, 1);
    private bool _exists;

    public async Task PutAsync(string sha256, byte[] bytes, CancellationToken cancellation = default)
    {
        await EnsureContainerAsync(cancellation);
        try
        {
            await container.GetBlobClient(BlobName(sha256)).UploadAsync(new BinaryData(bytes),
                new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, cancellation);
        }
        catch (RequestFailedException e) when (e.Status == 409 || e.ErrorCode == BlobErrorCode.BlobAlreadyExists)
        {
            // Stored before: content addressing makes it the same bytes.
        }
        await localCopies.PutAsync(sha256, bytes, cancellation);
    }

    public async Task<string> GetLocalFileAsync(string sha256, CancellationToken cancellation = default)
    {
        try
        {
            return await localCopies.GetLocalFileAsync(sha256, cancellation);
        }
        catch (ArtifactNotFoundException)
        {
            // No local copy yet, or a damaged one: fetch the blob below.
        }
        await EnsureContainerAsync(cancellation);
        BinaryData content;
        try
        {
            content = (await container.GetBlobClient(BlobName(sha256)).DownloadContentAsync(cancellation)).Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new ArtifactNotFoundException(sha256, $"no blob {BlobName(sha256)} in container '{container.Name}'");
        }
        var bytes = content.ToArray();
        var actual = ArtifactHash.Of(bytes);
        if (actual != sha256)
            throw new ArtifactNotFoundException(sha256, $"blob {BlobName(sha256)} in container '{container.Name}' is damaged (its SHA-256 is {actual})");
        localCopies.Discard(sha256);
        await localCopies.PutAsync(sha256, bytes, cancellation);
        return await localCopies.GetLocalFileAsync(sha256, cancellation);
    }

    private async Task EnsureContainerAsync(CancellationToken cancellation)
    {
        if (_exists) return;
        await _created.WaitAsync(cancellation);
        try
        {
            if (!_exists) await container.CreateIfNotExistsAsync(cancellationToken: cancellation);
            _exists = true;
        }
        finally
        {
            _created.Release();
        }
    }

    private static string BlobName(string sha256) => $"sha256/{sha256}.onnx";
}
