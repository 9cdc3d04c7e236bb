using Mesh.Inference.Sessions;

namespace Mesh.Grains.Configuration;

/// <summary>How a silo serves predicts (section <c>Mesh:Inference</c>).</summary>
public sealed class InferenceOptions : IValidatedOptions
{
    public const string Section = "Mesh:Inference";
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan DefaultIdleCheckInterval = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan DefaultVersionCacheTtl = TimeSpan.FromSeconds(1);

    /// <summary>A loaded session with no call for this long is disposed and its memory freed (scale to zero).</summary>
    public TimeSpan IdleTimeout { get; set; } = DefaultIdleTimeout;

    /// <summary>How often the silo looks for idle sessions.</summary>
    public TimeSpan IdleCheckInterval { get; set; } = DefaultIdleCheckInterval;

    /// <summary>
    /// How long a silo trusts its cached answer to "which version is the default" before asking the model
    /// again; a changed default reaches every silo within this time. Explicit versions are cached for good
    /// (a version never changes).
    /// </summary>
    public TimeSpan VersionCacheTtl { get; set; } = DefaultVersionCacheTtl;

    /// <summary>Most sessions loaded in one silo; at the cap the least recently used idle one is unloaded. 0: no cap.</summary>
    public int MaxLoadedSessions { get; set; }

    /// <summary>How many batches of one model version may run at once in a silo; 0: one per core.</summary>
    public int RunnersPerVersion { get; set; }

    /// <summary>How often each silo re-reads the models' policies to load the MinWarm ones.</summary>
    public TimeSpan WarmPolicyRefreshInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often each silo records its usage counts as an event (when there are any).</summary>
    public TimeSpan UsageFlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    public int Runners => RunnersPerVersion > 0 ? RunnersPerVersion : Environment.ProcessorCount;

    /// <summary>ONNX Runtime session settings.</summary>
    public OnnxSessionSettings Session { get; set; } = new();

    public IEnumerable<string> Validate()
    {
        if (IdleTimeout <= TimeSpan.Zero)
            yield return $"{Section}:{nameof(IdleTimeout)} must be positive (was {IdleTimeout})";
        if (IdleCheckInterval <= TimeSpan.Zero)
            yield return $"{Section}:{nameof(IdleCheckInterval)} must be positive (was {IdleCheckInterval})";
        if (VersionCacheTtl < TimeSpan.Zero)
            yield return $"{Section}:{nameof(VersionCacheTtl)} must not be negative (was {VersionCacheTtl})";
        if (MaxLoadedSessions < 0)
            yield return $"{Section}:{nameof(MaxLoadedSessions)} must be 0 (no cap) or more (was {MaxLoadedSessions})";
        if (RunnersPerVersion < 0)
            yield return $"{Section}:{nameof(RunnersPerVersion)} must be 0 (one per core) or more (was {RunnersPerVersion})";
        if (WarmPolicyRefreshInterval <= TimeSpan.Zero)
            yield return $"{Section}:{nameof(WarmPolicyRefreshInterval)} must be positive (was {WarmPolicyRefreshInterval})";
        if (UsageFlushInterval <= TimeSpan.Zero)
            yield return $"{Section}:{nameof(UsageFlushInterval)} must be positive (was {UsageFlushInterval})";
        if (Session.IntraOpThreads < 0)
            yield return $"{Section}:Session:{nameof(OnnxSessionSettings.IntraOpThreads)} must be 0 (one per core) or more (was {Session.IntraOpThreads})";
        if (Session.InterOpThreads < 0)
            yield return $"{Section}:Session:{nameof(OnnxSessionSettings.InterOpThreads)} must be 0 (one per core) or more (was {Session.InterOpThreads})";
    }
}
