namespace Mesh.Edge.Configuration;

/// <summary>What to do when the outbox is full.</summary>
public enum OutboxOverflow
{
    /// <summary>Drop the oldest unsynced results to make room; the loss is counted and reported to the mesh.</summary>
    DropOldest,

    /// <summary>Refuse new predicts (HTTP 503) until sync makes room: nothing is lost, the device stops answering.</summary>
    Refuse,
}

/// <summary>A model the device runs locally, from a file in its model cache.</summary>
public sealed class EdgeModelOptions
{
    public string Name { get; set; } = "";
    public string Path { get; set; } = "";

    /// <summary>The mesh version the file is (results carry it).</summary>
    public int Version { get; set; } = 1;

    /// <summary>
    /// Below this top output (a classifier's highest probability) the predict is asked of the region instead
    /// (edge-first fallback); unset: the local answer always stands.
    /// </summary>
    public double? ConfidenceThreshold { get; set; }
}

/// <summary>When a result counts as stored.</summary>
public enum OutboxDurability
{
    /// <summary>On disk before the answer (SQLite synchronous=FULL): survives a power cut; costs an fsync per commit.</summary>
    Full,

    /// <summary>
    /// In the database before the answer (synchronous=NORMAL in WAL mode): survives the bridge crashing or being
    /// killed, but a power cut can lose the last commits. For devices on stable power that need the lower latency.
    /// </summary>
    Normal,
}

public sealed class OutboxOptions
{
    public OutboxDurability Durability { get; set; } = OutboxDurability.Full;

    public const long DefaultMaxResults = 2_000_000;

    /// <summary>Most results held unsynced; past it, <see cref="Overflow"/> applies.</summary>
    public long MaxResults { get; set; } = DefaultMaxResults;

    /// <summary>Results older than this are dropped unsynced (counted and reported as lost, like an overflow).</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(7);

    public OutboxOverflow Overflow { get; set; } = OutboxOverflow.DropOldest;
}

public sealed class SyncOptions
{
    /// <summary>Results per sync request (the mesh takes at most 2048).</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>Pause between syncs when the outbox is empty.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between attempts while the mesh is unreachable (backoff with jitter up to it).</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Least time between reports of changed outbox figures to the twin (each report is an event).</summary>
    public TimeSpan ReportInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often input statistics (for drift) go with a sync; each report is an event per model.</summary>
    public TimeSpan DriftInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Request bodies larger than this are sent gzip-compressed.</summary>
    public int CompressAboveBytes { get; set; } = 16 * 1024;
}

/// <summary>The bridge's settings (section <c>Mesh:Edge</c>).</summary>
public sealed class EdgeBridgeOptions
{
    public const string Section = "Mesh:Edge";

    /// <summary>The device id registered in the mesh (`mesh devices register`).</summary>
    public string DeviceId { get; set; } = "";

    /// <summary>The device's sync token, as `mesh devices register` printed it.</summary>
    public string Token { get; set; } = "";

    /// <summary>The home region's HTTP gateway, e.g. http://127.0.0.1:8000 (empty: offline only, results stay in the outbox).</summary>
    public string MeshUrl { get; set; } = "";

    /// <summary>Folder of the outbox database.</summary>
    public string DataDirectory { get; set; } = "edge-data";

    /// <summary>
    /// Loopback port of the local API (Open Inference Protocol JSON); 0 picks a free one, -1 turns TCP off (then
    /// <see cref="LocalSocket"/> must be set).
    /// </summary>
    public int HttpPort { get; set; } = 8100;

    /// <summary>
    /// Path of a Unix domain socket that also serves the local API: no TCP stack on the way and nothing on the
    /// network. The socket file is made readable and writable by the bridge's user and group only (mode 0660), so
    /// who may call is whoever is in that group.
    /// </summary>
    public string? LocalSocket { get; set; }

    /// <summary>Also answer JSON lines on stdin (one infer request per line, with "model") on stdout.</summary>
    public bool JsonLines { get; set; }

    public List<EdgeModelOptions> Models { get; set; } = [];

    /// <summary>
    /// PEM file of the mesh's artifact public key (EC P-256): when set, an over-the-air update installs only a file
    /// whose signature (from the mesh's Mesh:Gateway:ArtifactSigningKey) verifies.
    /// </summary>
    public string? ArtifactPublicKey { get; set; }

    /// <summary>
    /// OTLP collector (gRPC, or HTTP/protobuf with OTEL_EXPORTER_OTLP_PROTOCOL) that receives the bridge's spans, so the
    /// edge half of a trace is seen next to the mesh's; empty: the spans are kept to the bridge (their contexts still
    /// travel with the results). Spans made offline are lost, not queued: the outbox is for results.
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Longest a fallback predict may take at the region.</summary>
    public TimeSpan FallbackTimeout { get; set; } = TimeSpan.FromSeconds(5);
    public OutboxOptions Outbox { get; set; } = new();
    public SyncOptions Sync { get; set; } = new();

    public string FullDataDirectory => System.IO.Path.GetFullPath(DataDirectory);

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(DeviceId)) yield return $"{Section}:{nameof(DeviceId)} must name the device";
        if (!string.IsNullOrEmpty(MeshUrl) && !Uri.TryCreate(MeshUrl, UriKind.Absolute, out _))
            yield return $"{Section}:{nameof(MeshUrl)} must be an absolute http(s) URL (was '{MeshUrl}')";
        if (!string.IsNullOrEmpty(MeshUrl) && string.IsNullOrWhiteSpace(Token))
            yield return $"{Section}:{nameof(Token)} must be the device's sync token when {Section}:{nameof(MeshUrl)} is set";
        if (!string.IsNullOrEmpty(ArtifactPublicKey) && !File.Exists(ArtifactPublicKey))
            yield return $"{Section}:{nameof(ArtifactPublicKey)}: no file at '{ArtifactPublicKey}'";
        if (!string.IsNullOrEmpty(OtlpEndpoint) && !(Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out var otlp) && otlp.Scheme is "http" or "https"))
            yield return $"{Section}:{nameof(OtlpEndpoint)} must be an http:// or https:// URI, e.g. http://collector:4317 (was '{OtlpEndpoint}')";
        if (HttpPort is < -1 or > 65535) yield return $"{Section}:{nameof(HttpPort)} must be a port from 0 to 65535, or -1 for none (was {HttpPort})";
        if (HttpPort == -1 && string.IsNullOrWhiteSpace(LocalSocket))
            yield return $"{Section}:{nameof(HttpPort)} is -1 (no TCP), so {Section}:{nameof(LocalSocket)} must name the Unix socket to serve on";
        // sockaddr_un holds 108 bytes with the terminating zero.
        if (!string.IsNullOrWhiteSpace(LocalSocket) && System.Text.Encoding.UTF8.GetByteCount(System.IO.Path.GetFullPath(LocalSocket)) > 107)
            yield return $"{Section}:{nameof(LocalSocket)} must be at most 107 bytes as a full path (was '{System.IO.Path.GetFullPath(LocalSocket)}')";
        for (var i = 0; i < Models.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(Models[i].Name)) yield return $"{Section}:Models:{i}:Name must not be empty";
            if (!File.Exists(Models[i].Path)) yield return $"{Section}:Models:{i}:Path must be an ONNX file (no file at '{Models[i].Path}')";
        }
        if (Outbox.MaxResults < 1) yield return $"{Section}:Outbox:MaxResults must be at least 1 (was {Outbox.MaxResults})";
        if (Outbox.MaxAge <= TimeSpan.Zero) yield return $"{Section}:Outbox:MaxAge must be positive (was {Outbox.MaxAge})";
        if (Sync.BatchSize is < 1 or > 2048) yield return $"{Section}:Sync:BatchSize must be from 1 to 2048 (was {Sync.BatchSize})";
        if (Sync.Interval <= TimeSpan.Zero) yield return $"{Section}:Sync:Interval must be positive (was {Sync.Interval})";
        if (Sync.MaxBackoff <= TimeSpan.Zero) yield return $"{Section}:Sync:MaxBackoff must be positive (was {Sync.MaxBackoff})";
    }
}
