using System.Net.Http.Headers;
using Grpc.Net.Client;
using Mesh.Client.Grpc;
using Mesh.Silo.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace Mesh.IntegrationTests.Infrastructure;

/// <summary>
/// The silo application as Program runs it (silo, gateway, sample model), started in this process with real
/// Kestrel listeners on free loopback ports and its own data directory.
/// </summary>
public abstract class GatewayFixture(IReadOnlyDictionary<string, string?>? settings = null) : IAsyncLifetime
{
    public WebApplication App { get; private set; } = null!;
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "mesh-tests", "gateway-" + Guid.NewGuid().ToString("N"));
    public int HttpPort { get; } = MeshProcess.FreePort();
    public int GrpcPort { get; } = MeshProcess.FreePort();
    public virtual string Scheme => "http";
    public Uri BaseAddress => new($"{Scheme}://127.0.0.1:{HttpPort}");
    public HttpClient Http { get; private set; } = null!;
    public GRPCInferenceService.GRPCInferenceServiceClient Grpc { get; private set; } = null!;
    private GrpcChannel? _channel;

    protected virtual HttpMessageHandler CreateHandler() => new SocketsHttpHandler();

    public async Task InitializeAsync()
    {
        var configuration = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>())
        {
            ["Mesh:Silo:SiloPort"] = MeshProcess.FreePort().ToString(),
            ["Mesh:Silo:GatewayPort"] = MeshProcess.FreePort().ToString(),
            ["Mesh:Gateway:HttpPort"] = HttpPort.ToString(),
            ["Mesh:Gateway:GrpcPort"] = GrpcPort.ToString(),
            ["Mesh:Storage:DataDirectory"] = DataDirectory,
            ["Logging:LogLevel:Default"] = "Warning",
        };
        App = MeshSiloApp.Create([], config => config.AddInMemoryCollection(configuration));
        await App.StartAsync();
        Http = new HttpClient(CreateHandler()) { BaseAddress = BaseAddress };
        _channel = GrpcChannel.ForAddress($"{Scheme}://127.0.0.1:{GrpcPort}", new GrpcChannelOptions { HttpHandler = CreateHandler() });
        Grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
        await WaitForSampleModelAsync();
    }

    // The sample is deployed right after start; tests that use it wait for it once, here.
    private async Task WaitForSampleModelAsync()
    {
        for (var i = 0; i < 100; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/models/mlp/ready");
            if (AdminKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
            using var response = await Http.SendAsync(request);
            if (response.IsSuccessStatusCode) return;
            await Task.Delay(100);
        }
        throw new TimeoutException("the sample model was not deployed within 10 s");
    }

    protected virtual string? AdminKey => null;

    public async Task DisposeAsync()
    {
        Http.Dispose();
        _channel?.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A gateway with no keys and no rate limit, as a developer runs it; bodies up to 1 MiB.</summary>
public sealed class OpenGateway() : GatewayFixture(new Dictionary<string, string?>
{
    ["Mesh:Gateway:MaxRequestBodyBytes"] = MaxBody.ToString(),
    ["Mesh:Telemetry:Prometheus:Enabled"] = "true",
})
{
    public const int MaxBody = 1 << 20;
}

[CollectionDefinition(Name)]
public sealed class OpenGatewayCollection : ICollectionFixture<OpenGateway>
{
    public const string Name = "open gateway";
}
