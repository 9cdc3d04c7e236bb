using System.Net;
using System.Net.Sockets;

namespace Mesh.Client;

/// <summary>Where the SDK finds the mesh (section <c>Mesh:Client</c>).</summary>
public sealed class MeshClientOptions
{
    public const string Section = "Mesh:Client";
    public const string DefaultGateway = "127.0.0.1:30000";
    public const string DefaultClusterId = "local";
    public const string DefaultServiceId = "mesh";
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Silo gateway endpoints, "host:port". The client spreads calls over all of them.</summary>
    public List<string> Gateways { get; set; } = [];

    /// <summary>The cluster to join: the silo's <c>Mesh:ClusterId</c> (a region's name).</summary>
    public string ClusterId { get; set; } = DefaultClusterId;

    /// <summary>The mesh's service id, the same for every region.</summary>
    public string ServiceId { get; set; } = DefaultServiceId;

    /// <summary>Who this client's predicts are metered to (`mesh usage`); none: "anonymous".</summary>
    public string? ClientId { get; set; }

    /// <summary>How long to keep trying to reach a gateway at start before giving up with an error.</summary>
    public TimeSpan ConnectTimeout { get; set; } = DefaultConnectTimeout;

    /// <summary>
    /// Longest one connection attempt may take, TCP and Orleans' handshake together. A gateway of another cluster
    /// never completes the handshake, so this is also how long such a mistake takes to show. Orleans' own default
    /// (5 s) when unset.
    /// </summary>
    public TimeSpan? OpenConnectionTimeout { get; set; }

    /// <summary>
    /// The API key this client presents with every call (as on HTTP: <c>mesh keys new</c> makes one). Needed when
    /// the silos have keys configured; its name is who the audit log says acted.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Longest a call waits for its answer (Orleans' response timeout, 30 s by default, is far longer than any
    /// inference should take). A call whose gateway connection closes does not wait for it: see <see cref="MeshClient"/>.
    /// </summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long after a gateway was lost the cluster counts as settling: the survivors still route some calls to
    /// the dead silo until membership declares it dead, and such a call would wait the whole response timeout.
    /// </summary>
    public TimeSpan GatewayLossSettleTime { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>While settling, a predict attempt that has no answer by then is sent again (twice at most).</summary>
    public TimeSpan SettlingAttemptTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Mutual TLS to the gateway; required when the silos have it on.</summary>
    public Security.MeshTlsOptions Tls { get; set; } = new();

    /// <summary>The gateways as endpoints; host names are resolved now. Throws naming the bad entry.</summary>
    public IPEndPoint[] ResolveGateways()
    {
        var gateways = Gateways.Count == 0 ? [DefaultGateway] : Gateways;
        return gateways.Select(Resolve).ToArray();
    }

    public static IPEndPoint Resolve(string gateway)
    {
        if (IPEndPoint.TryParse(gateway, out var endpoint) && endpoint.Port != 0)
            return endpoint;
        var colon = gateway.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(gateway[(colon + 1)..], out var port) || port is <= 0 or > 65535)
            throw new ArgumentException($"{Section}:{nameof(Gateways)}: '{gateway}' is not host:port");
        var host = gateway[..colon];
        var address = Dns.GetHostAddresses(host).OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).FirstOrDefault()
            ?? throw new ArgumentException($"{Section}:{nameof(Gateways)}: host '{host}' has no address");
        return new IPEndPoint(address, port);
    }
}
