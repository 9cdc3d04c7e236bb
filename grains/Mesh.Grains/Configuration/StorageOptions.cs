namespace Mesh.Grains.Configuration;

/// <summary>Where the silo keeps its state (section <c>Mesh:Storage</c>).</summary>
public sealed class StorageOptions : IValidatedOptions
{
    public const string Section = "Mesh:Storage";
    public const string DefaultDataDirectory = "mesh-data";

    /// <summary>
    /// Folder for the embedded default storage: the SQLite database (registry state) and the content-addressed
    /// model artifacts. A relative path is taken from the working directory.
    /// </summary>
    public string DataDirectory { get; set; } = DefaultDataDirectory;

    /// <summary>
    /// An Azure Storage connection string. When set, the silo runs the production profile: clustering, grain
    /// state, the event store, artifacts and event announcements all go to that account (Tables, Blobs, Queues);
    /// the data folder then holds only local copies of artifacts. Unset: the embedded default, nothing to install.
    /// </summary>
    public string? AzureConnectionString { get; set; }

    public bool UsesAzure => !string.IsNullOrWhiteSpace(AzureConnectionString);

    public string FullDataDirectory => Path.GetFullPath(DataDirectory);

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDirectory))
            yield return $"{Section}:{nameof(DataDirectory)} must name a folder";
        else if (DataDirectory.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
            yield return $"{Section}:{nameof(DataDirectory)} is not a valid path (was '{DataDirectory}')";
    }
}
