using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Mesh.Protocol;
using Mesh.Client.Grpc;

namespace Mesh.IntegrationTests.Gateway;

/// <summary>
/// A gateway with an infer key, an admin key and a rate limit of 5 requests a second per key; the Orleans Dashboard
/// is on (admin only).
/// </summary>
public sealed class SecuredGateway() : GatewayFixture(new Dictionary<string, string?>
{
    ["Mesh:Gateway:ApiKeys:0:Name"] = "app",
    ["Mesh:Gateway:ApiKeys:0:Sha256"] = ApiKeys.Hash(InferKey),
    ["Mesh:Gateway:ApiKeys:0:Role"] = "infer",
    ["Mesh:Gateway:ApiKeys:1:Name"] = "ops",
    ["Mesh:Gateway:ApiKeys:1:Sha256"] = ApiKeys.Hash(AdminKeyValue),
    ["Mesh:Gateway:ApiKeys:1:Role"] = "admin",
    ["Mesh:Gateway:ApiKeys:2:Name"] = "bursty",
    ["Mesh:Gateway:ApiKeys:2:Sha256"] = ApiKeys.Hash(BurstyKey),
    ["Mesh:Gateway:ApiKeys:2:Role"] = "infer",
    ["Mesh:Gateway:RateLimit:PermitsPerSecond"] = "5",
    ["Mesh:Telemetry:OrleansDashboard"] = "true",
})
{
    public const string InferKey = "infer-key-0123456789";
    public const string AdminKeyValue = "admin-key-9876543210";
    public const string BurstyKey = "bursty-key-555";
    protected override string? AdminKey => AdminKeyValue;
}

[Trait("Category", "Integration")]
public class SecurityTests(SecuredGateway gateway) : IClassFixture<SecuredGateway>
{
    private static readonly string Infer = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{GatewayHttp.FloatList(MlpModel.SampleInput(1))}}]}]}""";

    [Fact]
    public async Task Probes_need_no_key()
    {
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.GetJsonAsync("/v2/health/live")).Status);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.GetJsonAsync("/v2/health/ready")).Status);
    }

    [Fact]
    public async Task No_key_is_401_naming_the_header()
    {
        var (status, body) = await gateway.Http.PostJsonAsync("/v2/models/mlp/infer", Infer);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("this call needs an API key: send 'Authorization: Bearer <key>'", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Wrong_key_is_401()
    {
        var (status, body) = await gateway.Http.GetJsonAsync("/v2/models/mlp", key: "not-a-key");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("the API key is not one this mesh knows", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Infer_key_infers_but_may_not_administer()
    {
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync("/v2/models/mlp/infer", Infer, SecuredGateway.InferKey)).Status);
        var (status, body) = await gateway.Http.PostJsonAsync("/v2/repository/models/mlp/unload", "{}", SecuredGateway.InferKey);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("the key 'app' has the role 'infer'; this call needs 'admin'", body.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync("/v2/repository/models/mlp/unload", "{}", SecuredGateway.AdminKeyValue)).Status);
        // Unloaded for every test of this gateway until loaded again.
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync("/v2/repository/models/mlp/load", "{}", SecuredGateway.AdminKeyValue)).Status);
    }

    [Fact]
    public async Task A_deploy_through_the_gateway_is_audited_under_the_keys_name()
    {
        var model = TestModels.UniqueName("audited");
        foreach (var seed in new[] { 1, 2 })
        {
            using var upload = new ByteArrayContent(MlpModel.Build(new MlpModel.Options(Seed: seed)));
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/repository/models/{model}/versions") { Content = upload };
            request.Headers.Add("Authorization", $"Bearer {SecuredGateway.AdminKeyValue}");
            Assert.Equal(HttpStatusCode.Created, (await gateway.Http.SendAsync(request)).StatusCode);
        }
        var mesh = gateway.App.Services.GetRequiredService<Mesh.Client.MeshClient>();
        var audit = await mesh.GetAuditAsync(model);
        Assert.Equal(["ops", "ops"], audit.Select(a => a.Actor));

    }

    [Fact]
    public async Task Grpc_needs_the_key_too()
    {
        Assert.True((await gateway.Grpc.ServerLiveAsync(new ServerLiveRequest())).Live);
        var e = await Assert.ThrowsAsync<RpcException>(() => gateway.Grpc.ModelMetadataAsync(new ModelMetadataRequest { Name = "mlp" }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        var metadata = await gateway.Grpc.ModelMetadataAsync(new ModelMetadataRequest { Name = "mlp" }, new Metadata { { "authorization", $"Bearer {SecuredGateway.InferKey}" } });
        Assert.Equal("mlp", metadata.Name);
    }

    [Fact]
    public async Task Past_the_rate_limit_is_429_with_retry_after()
    {
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 20 && limited is null; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/models/mlp");
            request.Headers.Authorization = new("Bearer", SecuredGateway.BurstyKey);
            var response = await gateway.Http.SendAsync(request);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) limited = response;
            else response.Dispose();
        }

        Assert.NotNull(limited);
        Assert.True(limited!.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Contains("rate limit of 5 requests a second for 'bursty'", await limited.Content.ReadAsStringAsync());
        // Another key has its own bucket.
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.GetJsonAsync("/v2/models/mlp", SecuredGateway.InferKey)).Status);
        limited.Dispose();
    }
}

/// <summary>A gateway serving HTTPS and gRPC over TLS with a certificate made for the test.</summary>
public sealed class TlsGateway() : GatewayFixture(new Dictionary<string, string?>
{
    ["Mesh:Gateway:CertificatePath"] = Certificate.Value,
})
{
    private static readonly Lazy<string> Certificate = new(() =>
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var path = Path.Combine(Path.GetTempPath(), $"mesh-test-{Guid.NewGuid():N}.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx));
        return path;
    });

    public override string Scheme => "https";

    // The test trusts exactly the certificate it made.
    protected override HttpMessageHandler CreateHandler() => new SocketsHttpHandler
    {
        SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.Subject == "CN=127.0.0.1" },
    };
}

[Trait("Category", "Integration")]
public class TlsTests(TlsGateway gateway) : IClassFixture<TlsGateway>
{
    [Fact]
    public async Task Rest_and_grpc_are_served_over_tls()
    {
        Assert.Equal("https", gateway.BaseAddress.Scheme);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.GetJsonAsync("/v2/health/ready")).Status);
        Assert.True((await gateway.Grpc.ServerReadyAsync(new ServerReadyRequest())).Ready);
        Assert.Equal("mlp", (await gateway.Grpc.ModelMetadataAsync(new ModelMetadataRequest { Name = "mlp" })).Name);
    }
}
