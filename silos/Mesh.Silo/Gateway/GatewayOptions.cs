using Mesh.Grains.Configuration;

namespace Mesh.Silo.Gateway;

/// <summary>The inference gateway the silo hosts (section <c>Mesh:Gateway</c>).</summary>
public sealed class GatewayOptions : IValidatedOptions
{
    public const string Section = "Mesh:Gateway";
    public const int DefaultHttpPort = 8000;
    public const int DefaultGrpcPort = 8001;
    public const long DefaultMaxRequestBodyBytes = 64L << 20;
    public const long DefaultMaxModelBytes = 1L << 30;

    /// <summary>Address to listen on; loopback unless the gateway should be reachable from other machines.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>Port of the HTTP/REST API (Triton's default, 8000).</summary>
    public int HttpPort { get; set; } = DefaultHttpPort;

    /// <summary>Port of the gRPC API (Triton's default, 8001); 0 turns gRPC off.</summary>
    public int GrpcPort { get; set; } = DefaultGrpcPort;

    /// <summary>Largest inference request body; larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = DefaultMaxRequestBodyBytes;

    /// <summary>Largest model file accepted by the deploy endpoint.</summary>
    public long MaxModelBytes { get; set; } = DefaultMaxModelBytes;

    /// <summary>PFX certificate for TLS on both ports; plain HTTP (h2c for gRPC) when empty.</summary>
    public string? CertificatePath { get; set; }

    public string? CertificatePassword { get; set; }

    /// <summary>API keys. Empty: no key is asked for. Otherwise every call but live/ready needs one.</summary>
    public List<ApiKeyOptions> ApiKeys { get; set; } = [];

    public RateLimitOptions RateLimit { get; set; } = new();

    /// <summary>
    /// PEM file of an EC P-256 private key: when set, model files served to devices carry its signature (header
    /// Mesh-Artifact-Signature), which bridges holding the public key check before installing.
    /// </summary>
    public string? ArtifactSigningKey { get; set; }

    /// <summary>
    /// Host names (or IP addresses) requests may name in their Host header; empty: the loopback names when the
    /// gateway listens on loopback, any otherwise. A page a browser loads from another site cannot then reach a
    /// loopback gateway by pointing its own DNS name at 127.0.0.1 (DNS rebinding).
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>
    /// Web origins (scheme://host[:port]) besides the gateway's own whose pages may send state-changing requests;
    /// empty: only the gateway's own pages (the console) may.
    /// </summary>
    public List<string> AllowedOrigins { get; set; } = [];

    public bool UsesTls => !string.IsNullOrEmpty(CertificatePath);

    public IEnumerable<string> Validate()
    {
        if (!System.Net.IPAddress.TryParse(Address, out _))
            yield return $"{Section}:{nameof(Address)} must be an IP address (was '{Address}')";
        if (HttpPort is < 1 or > 65535)
            yield return $"{Section}:{nameof(HttpPort)} must be a port from 1 to 65535 (was {HttpPort})";
        if (GrpcPort is < 0 or > 65535)
            yield return $"{Section}:{nameof(GrpcPort)} must be 0 (off) or a port from 1 to 65535 (was {GrpcPort})";
        if (GrpcPort == HttpPort)
            yield return $"{Section}:{nameof(GrpcPort)} and {Section}:{nameof(HttpPort)} must differ (both {HttpPort})";
        if (MaxRequestBodyBytes < 1024)
            yield return $"{Section}:{nameof(MaxRequestBodyBytes)} must be at least 1024 (was {MaxRequestBodyBytes})";
        if (MaxModelBytes < 1024)
            yield return $"{Section}:{nameof(MaxModelBytes)} must be at least 1024 (was {MaxModelBytes})";
        if (UsesTls && !File.Exists(CertificatePath))
            yield return $"{Section}:{nameof(CertificatePath)}: no file at '{CertificatePath}'";
        if (!string.IsNullOrEmpty(ArtifactSigningKey) && !File.Exists(ArtifactSigningKey))
            yield return $"{Section}:{nameof(ArtifactSigningKey)}: no file at '{ArtifactSigningKey}'";
        for (var i = 0; i < ApiKeys.Count; i++)
        {
            foreach (var error in ApiKeys[i].Validate($"{Section}:{nameof(ApiKeys)}:{i}"))
                yield return error;
        }
        if (ApiKeys.Select(k => k.Name).Distinct(StringComparer.Ordinal).Count() != ApiKeys.Count)
            yield return $"{Section}:{nameof(ApiKeys)}: names must be unique";
        for (var i = 0; i < AllowedHosts.Count; i++)
        {
            if (Uri.CheckHostName(AllowedHosts[i]) == UriHostNameType.Unknown)
                yield return $"{Section}:{nameof(AllowedHosts)}:{i} must be a host name or IP address, without scheme or port (was '{AllowedHosts[i]}')";
        }
        for (var i = 0; i < AllowedOrigins.Count; i++)
        {
            if (!Uri.TryCreate(AllowedOrigins[i], UriKind.Absolute, out var origin) || origin.Scheme is not ("http" or "https") || origin.PathAndQuery != "/")
                yield return $"{Section}:{nameof(AllowedOrigins)}:{i} must be an origin such as https://ops.example.com (was '{AllowedOrigins[i]}')";
        }
        if (RateLimit.PermitsPerSecond < 0)
            yield return $"{Section}:{nameof(RateLimit)}:{nameof(RateLimitOptions.PermitsPerSecond)} must be 0 (off) or more (was {RateLimit.PermitsPerSecond})";
        if (RateLimit.Burst < 0)
            yield return $"{Section}:{nameof(RateLimit)}:{nameof(RateLimitOptions.Burst)} must be 0 (same as PermitsPerSecond) or more (was {RateLimit.Burst})";
    }
}

/// <summary>
/// One API key. Only its SHA-256 is configured, so configuration files and logs never hold the key itself
/// (`mesh keys new` makes a key and prints the entry).
/// </summary>
public sealed class ApiKeyOptions
{
    /// <summary>Who the key belongs to; the rate limit and metering count per name.</summary>
    public string Name { get; set; } = "";

    /// <summary>Lower-case hex SHA-256 of the key.</summary>
    public string Sha256 { get; set; } = "";

    /// <summary><c>infer</c> (metadata and predicts) or <c>admin</c> (also deploy, load, unload).</summary>
    public string Role { get; set; } = GatewayRoles.Infer;

    public IEnumerable<string> Validate(string path)
    {
        if (string.IsNullOrWhiteSpace(Name))
            yield return $"{path}:{nameof(Name)} must not be empty";
        if (Sha256.Length != 64 || !Sha256.All(Uri.IsHexDigit))
            yield return $"{path}:{nameof(Sha256)} must be 64 hex digits (the SHA-256 of the key, not the key)";
        if (Role is not (GatewayRoles.Infer or GatewayRoles.Admin))
            yield return $"{path}:{nameof(Role)} must be '{GatewayRoles.Infer}' or '{GatewayRoles.Admin}' (was '{Role}')";
    }
}

/// <summary>Per-key (or, without keys, per client address) token bucket.</summary>
public sealed class RateLimitOptions
{
    /// <summary>Requests a second each key may make; 0 turns the limit off.</summary>
    public int PermitsPerSecond { get; set; }

    /// <summary>Requests a key may make at once after a quiet spell; 0 means PermitsPerSecond.</summary>
    public int Burst { get; set; }
}

public static class GatewayRoles
{
    public const string Infer = "infer";
    public const string Admin = "admin";
}
