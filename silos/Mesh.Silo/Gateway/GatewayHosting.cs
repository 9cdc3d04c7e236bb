using System.Globalization;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using System.Threading.RateLimiting;
using Mesh.Client;
using Mesh.Grains.Hosting;
using Mesh.Grains.Inference;
using Mesh.Silo.Gateway.Grpc;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mesh.Silo.Gateway;

public static class GatewayHosting
{
    public const string RateLimitPolicy = "per-key";

    /// <summary>
    /// Kestrel in the silo's host: the REST API on HttpPort (HTTP/1.1 and 2), gRPC on its own HTTP/2 port, TLS when a
    /// certificate is configured; API-key auth, per-key rate limits, and the mesh's errors as protocol errors.
    /// </summary>
    public static WebApplicationBuilder AddMeshGateway(this WebApplicationBuilder builder, GatewayOptions gateway)
    {
        builder.Services.AddValidatedOptions<GatewayOptions>(GatewayOptions.Section);
        builder.Services.AddSingleton<GatewayReadiness>();
        builder.Services.AddSingleton<GatewayInference>();
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.Encoder = GatewayErrors.Json.Encoder);
        builder.Services.AddSingleton(sp => new MeshClient(sp.GetRequiredService<IClusterClient>()));

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = Math.Max(gateway.MaxRequestBodyBytes, gateway.MaxModelBytes);
            var address = IPAddress.Parse(gateway.Address);
            var certificate = gateway.UsesTls
                ? X509CertificateLoader.LoadPkcs12FromFile(gateway.CertificatePath!, gateway.CertificatePassword)
                : null;
            kestrel.Listen(address, gateway.HttpPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                if (certificate is not null) listen.UseHttps(certificate);
            });
            if (gateway.GrpcPort != 0)
            {
                kestrel.Listen(address, gateway.GrpcPort, listen =>
                {
                    listen.Protocols = HttpProtocols.Http2;
                    if (certificate is not null) listen.UseHttps(certificate);
                });
            }
        });

        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(GatewayRoles.Infer, policy => policy.RequireRole(GatewayRoles.Infer))
            .AddPolicy(GatewayRoles.Admin, policy => policy.RequireRole(GatewayRoles.Admin));

        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(RateLimitPolicy, http => PartitionFor(http, gateway.RateLimit));
            limiter.OnRejected = async (context, cancellation) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : 1;
                context.HttpContext.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
                await GatewayErrors.WriteAsync(context.HttpContext, StatusCodes.Status429TooManyRequests,
                    $"rate limit of {gateway.RateLimit.PermitsPerSecond} requests a second for '{PartitionKey(context.HttpContext)}' reached; retry after {retryAfter} s");
            };
        });

        builder.Services.AddRequestDecompression();
        builder.Services.AddGrpc(grpc =>
        {
            grpc.Interceptors.Add<GrpcErrorInterceptor>();
            grpc.MaxReceiveMessageSize = (int)Math.Min(int.MaxValue, gateway.MaxRequestBodyBytes);
            grpc.EnableDetailedErrors = false;
        });
        return builder;
    }

    public static WebApplication MapMeshGateway(this WebApplication app)
    {
        app.Use(ErrorsAsProtocolErrors);
        var guard = new BrowserRequestGuard(app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<GatewayOptions>>().Value);
        app.Use(guard.InvokeAsync);
        // Edge bridges gzip large sync batches; the decompressed body is held to the same size limit.
        app.UseRequestDecompression();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.MapInferenceApi();
        app.MapRepositoryApi();
        app.MapDeviceApi();
        var grpcPort = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<GatewayOptions>>().Value.GrpcPort;
        if (grpcPort != 0)
            app.MapGrpcService<GrpcInferenceService>().RequireHost($"*:{grpcPort}").RequireRateLimiting(RateLimitPolicy);
        return app;
    }

    private static async Task ErrorsAsProtocolErrors(HttpContext http, RequestDelegate next)
    {
        try
        {
            await next(http);
            // Routing answers an unknown path or method with an empty 404/405; the protocol's clients need a body to
            // report ("The document is empty" otherwise).
            if (!http.Response.HasStarted && http.Request.Path.StartsWithSegments("/v2")
                && http.Response.StatusCode is StatusCodes.Status404NotFound or StatusCodes.Status405MethodNotAllowed)
            {
                await GatewayErrors.WriteAsync(http, http.Response.StatusCode, http.Response.StatusCode == StatusCodes.Status404NotFound
                    ? $"no such endpoint: {http.Request.Method} {http.Request.Path} (the Open Inference Protocol's are under /v2/health, /v2/models and /v2/repository)"
                    : $"{http.Request.Method} is not allowed on {http.Request.Path}");
            }
        }
        catch (Exception e) when (!http.Response.HasStarted && !http.RequestAborted.IsCancellationRequested)
        {
            var (status, _) = GatewayErrors.StatusOf(e);
            if (status == StatusCodes.Status500InternalServerError)
                http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Mesh.Gateway").LogError(e, "{Method} {Path} failed", http.Request.Method, http.Request.Path);
            await GatewayErrors.WriteAsync(http, e);
        }
    }

    /// <summary>Who a request is metered to: its key's name, or "anonymous" when keys are off.</summary>
    public static string CallerOf(System.Security.Claims.ClaimsPrincipal user) => user.Identity?.Name ?? UsageMeter.Anonymous;

    private static string PartitionKey(HttpContext http) =>
        http.User.Identity is { IsAuthenticated: true, Name: { } name } && name != UsageMeter.Anonymous
            ? name
            : http.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    private static RateLimitPartition<string> PartitionFor(HttpContext http, RateLimitOptions limits)
    {
        var key = PartitionKey(http);
        if (limits.PermitsPerSecond == 0) return RateLimitPartition.GetNoLimiter(key);
        return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = limits.Burst > 0 ? limits.Burst : limits.PermitsPerSecond,
            TokensPerPeriod = limits.PermitsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
    }
}
