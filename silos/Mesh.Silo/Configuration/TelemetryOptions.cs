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

    public bool Uses(string exporter) => Exporters.Contains(exporter, StringComparer.OrdinalIgnoreCase);

    public IEnumerable<string> Validate()
    {
        for (var i = 0; i < Exporters.Count; i++)
        {
            if (!KnownExporters.Contains(Exporters[i], StringComparer.OrdinalIgnoreCase))
                yield return $"{Section}:{nameof(Exporters)}:{i} must be one of {string.Join(", ", KnownExporters)} (was '{Exporters[i]}')";
        }
        if (!string.IsNullOrEmpty(OtlpEndpoint) && !Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out _))
            yield return $"{Section}:{nameof(OtlpEndpoint)} must be an absolute URI (was '{OtlpEndpoint}')";
    }
}
