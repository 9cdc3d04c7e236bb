using System.Security.Claims;
using Mesh.Abstractions.Protocol;
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
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return Task.FromResult(AuthenticateResult.Fail("the Authorization header must be 'Bearer <key>'"));

        var presented = ApiKeys.HashBytes(header["Bearer ".Length..].Trim());
        foreach (var key in keys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, Convert.FromHexString(key.Sha256)))
                return Task.FromResult(Success(key.Name, key.Role));
        }
        return Task.FromResult(AuthenticateResult.Fail(Unknown));
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
        Response.Headers.WWWAuthenticate = "Bearer";
        var result = await HandleAuthenticateOnceSafeAsync();
        await GatewayErrors.WriteAsync(Context, StatusCodes.Status401Unauthorized, result.Failure?.Message ?? Missing);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        GatewayErrors.WriteAsync(Context, StatusCodes.Status403Forbidden,
            $"the key '{Context.User.Identity?.Name}' has the role '{Context.User.FindFirstValue(ClaimTypes.Role)}'; this call needs '{GatewayRoles.Admin}'");
}
