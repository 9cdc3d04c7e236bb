using Mesh.Grains.Configuration;

namespace Mesh.Silo.Configuration;

/// <summary>Where traces and metrics go (section <c>Mesh:Telemetry</c>). Nothing is exported unless asked.</summary>
public sealed class TelemetryOptions : IValidatedOptions
{
    public const string Section = "Mesh:Telemetry";
    public static readonly string[] KnownExporters = ["console", "otlp"];

    /// <summary>Exporters to enable: "console", "otlp". Empty: telemetry is collected by no one.</summary>
    public List<string> Exporters { get; set; } = [];

    /// <summary>OTLP collector endpoint; the OpenTelemetry default (or OTEL_EXPORTER_OTLP_ENDPOINT) when empty.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Write logs as JSON lines with their scopes (trace id, span id) instead of the plain console format.</summary>
    public bool JsonLogs { get; set; }

    /// <summary>
    /// Serve the Orleans Dashboard (grains per type and silo, their call rates and latencies, silos, reminders) at
    /// /dashboard on the HTTP gateway, behind an admin key. Off by default: its profiler is a filter on every grain call
    /// (15-30 % of the predict throughput under load, docs/benchmarks.md).
    /// </summary>
    public bool OrleansDashboard { get; set; }

    /// <summary>Serve the metrics in Prometheus text format on the HTTP gateway.</summary>
    public PrometheusOptions Prometheus { get; set; } = new();

    public bool Uses(string exporter) => Exporters.Contains(exporter, StringComparer.OrdinalIgnoreCase);

    public IEnumerable<string> Validate()
    {
        for (var i = 0; i < Exporters.Count; i++)
        {
            if (!KnownExporters.Contains(Exporters[i], StringComparer.OrdinalIgnoreCase))
                yield return $"{Section}:{nameof(Exporters)}:{i} must be one of {string.Join(", ", KnownExporters)} (was '{Exporters[i]}')";
        }
        if (Prometheus.Enabled && !Prometheus.Path.StartsWith('/'))
            yield return $"{Section}:{nameof(Prometheus)}:{nameof(PrometheusOptions.Path)} must start with '/' (was '{Prometheus.Path}')";
        if (!string.IsNullOrEmpty(OtlpEndpoint) && !(Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out var otlp) && otlp.Scheme is "http" or "https"))
            yield return $"{Section}:{nameof(OtlpEndpoint)} must be an http:// or https:// URI, e.g. http://collector:4317 (was '{OtlpEndpoint}')";
    }
}

public sealed class PrometheusOptions
{
    /// <summary>Off by default: a scrape endpoint shows who calls the mesh how often.</summary>
    public bool Enabled { get; set; }

    /// <summary>Path of the scrape endpoint on the HTTP gateway's port.</summary>
    public string Path { get; set; } = "/metrics";
}
