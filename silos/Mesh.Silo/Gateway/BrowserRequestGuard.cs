using System.Net;

namespace Mesh.Silo.Gateway;

/// <summary>
/// What keeps web pages of other sites from using a browser as their client (CSRF, DNS rebinding). Tools such as
/// curl, the CLI and Triton's clients send neither Origin nor a foreign Host, so they pass unchanged:
/// <list type="bullet">
/// <item>the Host header must name the gateway (AllowedHosts, or loopback names on a loopback gateway);</item>
/// <item>a state-changing request that comes from a web page (it carries Origin, or Sec-Fetch-Site says
/// cross-site) must come from the gateway's own origin or an allowed one;</item>
/// <item>the console's pages are sent with a content security policy that forbids framing and foreign scripts.</item>
/// </list>
/// Checked before authentication and before the body is read.
/// </summary>
public sealed class BrowserRequestGuard(GatewayOptions options)
{
    private static readonly string[] LoopbackHosts = ["localhost", "127.0.0.1", "[::1]", "::1"];
    private readonly string[] _hosts = options.AllowedHosts.Count > 0 ? [.. options.AllowedHosts]
        : IPAddress.IsLoopback(IPAddress.Parse(options.Address)) ? LoopbackHosts : [];
    private readonly HashSet<string> _origins = new(options.AllowedOrigins.Select(o => new Uri(o).GetLeftPart(UriPartial.Authority)), StringComparer.OrdinalIgnoreCase);

    public const string ConsolePolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (RefusedHost(http.Request) is { } hostError)
        {
            await GatewayErrors.WriteAsync(http, StatusCodes.Status400BadRequest, hostError);
            return;
        }
        if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method) && !HttpMethods.IsOptions(http.Request.Method)
            && RefusedOrigin(http.Request) is { } originError)
        {
            await GatewayErrors.WriteAsync(http, StatusCodes.Status403Forbidden, originError);
            return;
        }
        if (http.Request.Path.StartsWithSegments("/console"))
        {
            var headers = http.Response.Headers;
            headers.ContentSecurityPolicy = ConsolePolicy;
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
        }
        await next(http);
    }

    private string? RefusedHost(HttpRequest request)
    {
        if (_hosts.Length == 0) return null;
        var host = request.Host.Host;
        return _hosts.Contains(host, StringComparer.OrdinalIgnoreCase)
            ? null
            : $"request header 'Host': '{request.Host}' is not a name of this gateway (allowed: {string.Join(", ", _hosts)}; set {GatewayOptions.Section}:{nameof(GatewayOptions.AllowedHosts)})";
    }

    private string? RefusedOrigin(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (string.IsNullOrEmpty(origin))
        {
            // A browser that sends no Origin still says where the request came from.
            return request.Headers["Sec-Fetch-Site"].ToString() is "cross-site" or "same-site"
                ? "request header 'Sec-Fetch-Site': a state-changing request from another site's page is refused"
                : null;
        }
        var own = $"{request.Scheme}://{request.Host}";
        if (string.Equals(origin, own, StringComparison.OrdinalIgnoreCase) || _origins.Contains(origin)) return null;
        return $"request header 'Origin': '{origin}' is not this gateway's origin ({own}); a state-changing request from another site's page is refused (allow one with {GatewayOptions.Section}:{nameof(GatewayOptions.AllowedOrigins)})";
    }
}
