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

    public string FullDataDirectory => Path.GetFullPath(DataDirectory);

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDirectory))
            yield return $"{Section}:{nameof(DataDirectory)} must name a folder";
        else if (DataDirectory.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
            yield return $"{Section}:{nameof(DataDirectory)} is not a valid path (was '{DataDirectory}')";
    }
}
