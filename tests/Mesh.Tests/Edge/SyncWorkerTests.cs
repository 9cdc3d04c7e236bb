using System.IO.Compression;
using System.Net;
using Mesh.Abstractions.Grains;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;
using Mesh.EdgeBridge.Hosting;
using Mesh.Edge.Outbox;
using Mesh.Edge.Sync;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mesh.Tests.Edge;

/// <summary>
/// The bridge's sync loop, composed as the bridge composes it (AddEdgeBridge), against a mesh endpoint the test
/// scripts at the HTTP handler: what it sends, what it forgets, and that no result is lost while the mesh fails.
/// </summary>
public sealed class SyncWorkerTests : IAsyncDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mesh-tests", "sync-" + Guid.NewGuid().ToString("N"));
    private readonly ScriptedMesh _mesh = new();
    private readonly WebApplication _bridge;

    public SyncWorkerTests()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mesh:Edge:DeviceId"] = "cam-1",
            ["Mesh:Edge:Token"] = "mesh_token",
            ["Mesh:Edge:MeshUrl"] = "http://mesh.test/",
            ["Mesh:Edge:DataDirectory"] = _data,
            ["Mesh:Edge:Models:0:Name"] = "mlp",
            ["Mesh:Edge:Models:0:Path"] = Path.Combine(AppContext.BaseDirectory, "models", "mlp-small.onnx"),
            ["Mesh:Edge:Sync:BatchSize"] = "3",
            ["Mesh:Edge:Sync:Interval"] = "00:00:00.020",
            ["Mesh:Edge:Sync:MaxBackoff"] = "00:00:00.050",
        });
        builder.AddEdgeBridge();
        builder.Services.AddHttpClient(SyncWorker.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => _mesh);
        _bridge = builder.Build();
    }

    private ResultOutbox Outbox => _bridge.Services.GetRequiredService<ResultOutbox>();
    private SyncState State => _bridge.Services.GetRequiredService<SyncState>();
    private SyncWorker Worker => _bridge.Services.GetServices<IHostedService>().OfType<SyncWorker>().Single();

    private async Task AppendAsync(int count)
    {
        for (var i = 0; i < count; i++)
            await Outbox.AppendAsync(new DeviceResult(0, "mlp", 1, DateTimeOffset.UtcNow, "edge", null, [NamedTensor.Create("y", [1, 1], new[] { (float)i })]));
    }

    private static async Task UntilAsync(Func<bool> done, string what)
    {
        for (var i = 0; i < 500 && !done(); i++) await Task.Delay(10);
        Assert.True(done(), what);
    }

    [Fact]
    public async Task Results_go_oldest_first_in_batches_each_with_the_device_token_and_are_forgotten_once_acknowledged()
    {
        await AppendAsync(7);
        await Worker.StartAsync(default);
        await UntilAsync(() => Outbox.Depth == 0, "the outbox did not drain");
        await Worker.StopAsync(default);

        var sent = _mesh.Batches.Where(b => b.Results.Length > 0).ToList();
        Assert.Equal([3, 3, 1], sent.Select(b => b.Results.Length));
        Assert.Equal(Enumerable.Range(1, 7).Select(i => (long)i), sent.SelectMany(b => b.Results).Select(r => r.Sequence));
        Assert.All(_mesh.Tokens, t => Assert.Equal("Bearer mesh_token", t));
        Assert.Equal(7, State.AppliedThrough);
        Assert.Null(State.LastError);
    }

    [Fact]
    public async Task While_the_mesh_fails_nothing_is_forgotten_and_everything_arrives_once_it_answers_again()
    {
        _mesh.Failing = HttpStatusCode.ServiceUnavailable;
        await AppendAsync(5);
        await Worker.StartAsync(default);
        await UntilAsync(() => _mesh.Refused >= 3, "the worker did not retry");
        Assert.Equal(5, Outbox.Depth);
        Assert.Contains("503", State.LastError);

        _mesh.Failing = null;
        await UntilAsync(() => Outbox.Depth == 0, "the outbox did not drain after the mesh came back");
        await Worker.StopAsync(default);
        Assert.Equal(Enumerable.Range(1, 5).Select(i => (long)i), _mesh.Applied.Order());
    }

    [Fact]
    public async Task A_refused_token_keeps_every_result_and_says_why()
    {
        _mesh.Failing = HttpStatusCode.Unauthorized;
        await AppendAsync(2);
        await Worker.StartAsync(default);
        await UntilAsync(() => _mesh.Refused >= 2, "the worker did not retry");
        await Worker.StopAsync(default);
        Assert.Equal(2, Outbox.Depth);
        Assert.Contains("refused the device token", State.LastError);
    }

    public async ValueTask DisposeAsync()
    {
        await _bridge.DisposeAsync();
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }

    /// <summary>The mesh's sync endpoint as scripted by a test: it applies each sequence number once and acknowledges, or fails on purpose.</summary>
    private sealed class ScriptedMesh : HttpMessageHandler
    {
        private readonly object _gate = new();
        public HttpStatusCode? Failing { get; set; }
        public List<DeviceSyncBatch> Batches { get; } = [];
        public List<string> Tokens { get; } = [];
        public HashSet<long> Applied { get; } = [];
        public int Refused;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Assert.Equal("/v2/devices/cam-1/sync", request.RequestUri!.AbsolutePath);
            if (Failing is { } status)
            {
                Interlocked.Increment(ref Refused);
                return new HttpResponseMessage(status) { Content = new StringContent("{\"error\":\"scripted failure\"}") };
            }
            var body = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            if (request.Content.Headers.ContentEncoding.Contains("gzip"))
            {
                using var inflated = new MemoryStream();
                using (var gzip = new GZipStream(new MemoryStream(body), CompressionMode.Decompress)) gzip.CopyTo(inflated);
                body = inflated.ToArray();
            }
            var batch = DeviceSyncJson.ReadBatch(body);
            long through;
            lock (_gate)
            {
                Batches.Add(batch);
                Tokens.Add(request.Headers.Authorization!.ToString());
                foreach (var result in batch.Results) Applied.Add(result.Sequence);
                through = Applied.Count == 0 ? 0 : Applied.Max();
            }
            var ack = new DeviceSyncAck(through, batch.Results.Length, 0, 0, []);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(DeviceSyncJson.WriteAck(ack)) };
        }
    }
}
