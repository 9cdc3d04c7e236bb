using Mesh.Grains.Configuration;

namespace Mesh.Silo.Configuration;

/// <summary>The silo's place in the mesh (section <c>Mesh:Silo</c>).</summary>
public sealed class SiloOptions : IValidatedOptions
{
    public const string Section = "Mesh:Silo";
    public const string DefaultClusterId = "local";
    public const string DefaultServiceId = "mesh";
    public const int DefaultSiloPort = 11111;
    public const int DefaultGatewayPort = 30000;

    /// <summary>The Orleans cluster this silo joins; one cluster per region, so this is the region's name.</summary>
    public string ClusterId { get; set; } = DefaultClusterId;

    /// <summary>The mesh's identity, shared by every region.</summary>
    public string ServiceId { get; set; } = DefaultServiceId;

    /// <summary>Port for silo-to-silo traffic (loopback).</summary>
    public int SiloPort { get; set; } = DefaultSiloPort;

    /// <summary>Port clients (the SDK, the CLI) connect to (loopback).</summary>
    public int GatewayPort { get; set; } = DefaultGatewayPort;

    /// <summary>
    /// The port the gateway listens on, when it differs from <see cref="GatewayPort"/>: a port map, NAT or proxy in
    /// front of the gateway. Orleans clients address the gateway's own system targets by the endpoint they dialled,
    /// so <see cref="GatewayPort"/> must be the one they dial and this the one the socket binds (unset: the same).
    /// </summary>
    public int? GatewayListenPort { get; set; }

    /// <summary>
    /// The address other silos and clients reach this silo at, when clustering is on Azure Table (the production
    /// profile); localhost clustering uses loopback.
    /// </summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>Deploy the bundled sample model as "mlp" when the registry is empty.</summary>
    public bool DeploySampleModel { get; set; } = true;

    /// <summary>
    /// Mutual TLS on the silo port and the Orleans gateway (and on this region's links to its peers): every
    /// connection, silo to silo and client to gateway, must show a certificate of the mesh's authority.
    /// </summary>
    public Mesh.Client.Security.MeshTlsOptions Tls { get; set; } = new();

    public IEnumerable<string> Validate()
    {
        foreach (var error in Tls.Validate($"{Section}:{nameof(Tls)}")) yield return error;
        if (string.IsNullOrWhiteSpace(ClusterId))
            yield return $"{Section}:{nameof(ClusterId)} must not be empty";
        if (string.IsNullOrWhiteSpace(ServiceId))
            yield return $"{Section}:{nameof(ServiceId)} must not be empty";
        if (SiloPort is < 1 or > 65535)
            yield return $"{Section}:{nameof(SiloPort)} must be a port from 1 to 65535 (was {SiloPort})";
        if (GatewayPort is < 1 or > 65535)
            yield return $"{Section}:{nameof(GatewayPort)} must be a port from 1 to 65535 (was {GatewayPort})";
        if (GatewayListenPort is < 1 or > 65535)
            yield return $"{Section}:{nameof(GatewayListenPort)} must be a port from 1 to 65535 (was {GatewayListenPort})";
        if (GatewayListenPort == SiloPort)
            yield return $"{Section}:{nameof(SiloPort)} and {Section}:{nameof(GatewayListenPort)} must differ (both {SiloPort})";
        if (!System.Net.IPAddress.TryParse(AdvertisedAddress, out _))
            yield return $"{Section}:{nameof(AdvertisedAddress)} must be an IP address (was '{AdvertisedAddress}')";
        if (SiloPort == GatewayPort)
            yield return $"{Section}:{nameof(SiloPort)} and {Section}:{nameof(GatewayPort)} must differ (both {SiloPort})";
    }
}
