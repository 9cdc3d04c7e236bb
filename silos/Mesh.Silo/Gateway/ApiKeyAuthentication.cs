using System.Security.Claims;
using Mesh.Protocol;
using Mesh.Grains.Inference;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Mesh.Silo.Gateway;

/// <summary>
/// <c>Authorization: Bearer &lt;key&gt;</c> against the configured keys' SHA-256 hashes (compared in constant
/// time). With no keys configured every caller is let in with every role: a loopback development mesh needs no
/// keys. Refusals answer with the protocol's <c>{"error"}</c> body.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemes,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<GatewayOptions> gateway) : AuthenticationHandler<AuthenticationSchemeOptions>(schemes, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    private const string Unknown = "the API key is not one this mesh knows";
    private const string Missing = "this call needs an API key: send 'Authorization: Bearer <key>'";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var keys = gateway.Value.ApiKeys;
        if (keys.Count == 0)
            return Task.FromResult(Success(UsageMeter.Anonymous, GatewayRoles.Admin));

        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
            return Task.FromResult(AuthenticateResult.NoResult());
        // A browser resends Basic credentials to any page of the site on its own, so they would let another site's
        // page act with them (CSRF): only the pages that ask for them (the dashboard) take them.
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase) && Context.GetEndpoint()?.Metadata.GetMetadata<BrowserLogin>() is null)
            return Task.FromResult(AuthenticateResult.Fail("request header 'Authorization': HTTP Basic credentials are taken only by the dashboard; send 'Bearer <key>'"));
        if (PresentedKey(header) is not { } key)
            return Task.FromResult(AuthenticateResult.Fail("the Authorization header must be 'Bearer <key>'"));

        var presented = ApiKeys.HashBytes(key);
        foreach (var known in keys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, Convert.FromHexString(known.Sha256)))
                return Task.FromResult(Success(known.Name, known.Role));
        }
        return Task.FromResult(AuthenticateResult.Fail(Unknown));
    }

    /// <summary>
    /// The key in <c>Bearer &lt;key&gt;</c>, or a browser's <c>Basic</c> credentials with the key as the password (the
    /// user name is not read); null for anything else.
    /// </summary>
    private static string? PresentedKey(string header)
    {
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return header["Bearer ".Length..].Trim();
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return null;
        Span<byte> decoded = stackalloc byte[256];
        if (!Convert.TryFromBase64String(header["Basic ".Length..].Trim(), decoded, out var length)) return null;
        var credentials = System.Text.Encoding.UTF8.GetString(decoded[..length]);
        var colon = credentials.IndexOf(':');
        return colon < 0 ? null : credentials[(colon + 1)..];
    }

    private AuthenticateResult Success(string name, string role)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, name), new(ClaimTypes.Role, role) };
        // An admin may do everything an infer key may.
        if (role == GatewayRoles.Admin) claims.Add(new Claim(ClaimTypes.Role, GatewayRoles.Infer));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        // A page a person opens (the Orleans Dashboard) asks the browser for the key; API callers are told "Bearer".
        Response.Headers.WWWAuthenticate = Context.GetEndpoint()?.Metadata.GetMetadata<BrowserLogin>() is null
            ? "Bearer"
            : "Basic realm=\"Mesh (user: any, password: an admin key)\", charset=\"UTF-8\"";
        var result = await HandleAuthenticateOnceSafeAsync();
        await GatewayErrors.WriteAsync(Context, StatusCodes.Status401Unauthorized, result.Failure?.Message ?? Missing);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        GatewayErrors.WriteAsync(Context, StatusCodes.Status403Forbidden,
            $"the key '{Context.User.Identity?.Name}' has the role '{Context.User.FindFirstValue(ClaimTypes.Role)}'; this call needs '{GatewayRoles.Admin}'");
}

/// <summary>Marks endpoints a person opens in a browser: a refusal asks for the key with HTTP Basic.</summary>
public sealed class BrowserLogin;
