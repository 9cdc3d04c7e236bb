namespace Mesh.Abstractions.Grains;

/// <summary>
/// Names of the twin properties the mesh and the edge bridge agree on. Desired (the cloud's): which version of
/// each model a device runs, by number and artifact hash. Reported (the device's): what it runs and how an
/// update went.
/// </summary>
public static class DesiredKeys
{
    public static string Version(string model) => $"model.{model}.version";
    public static string Sha256(string model) => $"model.{model}.sha256";
    public static string Update(string model) => $"model.{model}.update";

    /// <summary>
    /// The device label naming its profile: "cpu-int8" makes assignments pick a version derived with an int8
    /// optimization when one exists; "cpu-fp32" (or none) takes the version as named.
    /// </summary>
    public const string ProfileLabel = "profile";

    /// <summary>Results per sync (1 to 2048); set in the twin, it overrides the bridge's own setting.</summary>
    public const string SyncBatchSize = "sync.batch_size";

    /// <summary>Pause between syncs when idle, as a time span (00:00:05); overrides the bridge's setting.</summary>
    public const string SyncInterval = "sync.interval";
}
