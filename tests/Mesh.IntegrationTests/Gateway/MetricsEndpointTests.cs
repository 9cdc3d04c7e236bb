using System.Net;
using System.Text.RegularExpressions;
using Mesh.Abstractions.Models;
using Mesh.Client;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests.Gateway;

[Collection(OpenGatewayCollection.Name), Trait("Category", "Integration")]
public partial class MetricsEndpointTests(OpenGateway gateway)
{
    private static readonly string Infer = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{GatewayHttp.FloatList(MlpModel.SampleInput(1))}}]}]}""";

    [Fact]
    public async Task Scrape_endpoint_serves_the_mesh_and_orleans_series_in_prometheus_text_format()
    {
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync("/v2/models/mlp/infer", Infer)).Status);
        // Some figures are recorded after the response has left (the batch's, usage's), so the scrape is retried until
        // all of them show, and then checked.
        string[] expected = ["mesh_predict_requests", "mesh_predict_duration", "mesh_batch_size", "mesh_compute_duration", "mesh_queue_duration", "mesh_cold_starts", "mesh_sessions_loaded", "mesh_usage_requests"];
        string text = "";
        List<string> samples = [];
        for (var i = 0; i < 50 && (i == 0 || !expected.All(series => samples.Any(l => l.StartsWith(series, StringComparison.Ordinal)))); i++)
        {
            if (i > 0) await Task.Delay(100);
            text = await gateway.Http.GetStringAsync("/metrics");
            samples = text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        }

        Assert.All(samples, line => Assert.Matches(SampleLine(), line));
        foreach (var series in expected)
            Assert.Contains(samples, l => l.StartsWith(series, StringComparison.Ordinal));
        Assert.Contains(samples, l => l.StartsWith("orleans_", StringComparison.Ordinal));
        Assert.Contains("# TYPE mesh_predict_requests_total counter", text);
    }

    [Fact]
    public async Task Every_series_docs_operations_md_documents_is_scraped_once_its_feature_is_used()
    {
        var mesh = gateway.App.Services.GetRequiredService<MeshClient>();
        var model = TestModels.UniqueName("documented");
        await mesh.DeployAsync(model, TestModels.Mlp);
        // One run at a time per request and more callers than runners: requests queue.
        await mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 1));
        var infer = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", Infer)));
        Assert.All(infer, r => Assert.Equal(HttpStatusCode.OK, r.Status));
        await mesh.DeployAsync(model, TestModels.Mlp.Concat(new byte[] { 0x12, 0x00 }).ToArray(), makeDefault: false);
        await mesh.SetShadowAsync(model, 2);
        var device = TestModels.UniqueName("documented-cam");
        var token = (await mesh.RegisterDeviceAsync(device, new Mesh.Abstractions.Grains.DeviceRegistration("local", [model]))).Token!;
        using (var sync = new HttpRequestMessage(HttpMethod.Post, $"/v2/devices/{device}/sync"))
        {
            sync.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            sync.Content = new ByteArrayContent(Mesh.Protocol.DeviceSyncJson.WriteBatch(new Mesh.Abstractions.Grains.DeviceSyncBatch(
                [new Mesh.Abstractions.Grains.DeviceResult(1, model, 1, DateTimeOffset.UtcNow, "edge", null, [TestModels.MlpInput(1)])])));
            using var synced = await gateway.Http.SendAsync(sync);
            Assert.True(synced.IsSuccessStatusCode, await synced.Content.ReadAsStringAsync());
        }

        var rows = File.ReadAllLines(Path.Combine(MeshProcess.RepositoryRoot, "docs", "operations.md"))
            .Select(l => DocumentedRow().Match(l)).Where(m => m.Success)
            .Select(m => (Series: m.Groups[1].Value, Kind: m.Groups[2].Value, Appears: m.Groups[3].Value)).ToArray();
        Assert.NotEmpty(rows);
        // Only the series of a region with peers cannot show here (RegionProcessTests run those).
        Assert.All(rows.Where(r => r.Appears == "with peer regions"), r => Assert.Matches("^mesh_(replication|region)_", r.Series));
        var expected = rows.Where(r => r.Appears != "with peer regions").ToArray();
        // The fleet gauges come from the fleet summary, refreshed every 5 s.
        var text = "";
        var watch = System.Diagnostics.Stopwatch.StartNew();
        string[] missing = [];
        do
        {
            text = await gateway.Http.GetStringAsync("/metrics");
            missing = expected.Where(r => !text.Contains($"# TYPE {r.Series} {r.Kind}\n", StringComparison.Ordinal)).Select(r => r.Series).ToArray();
            // The shadow reaches this silo's routing table within about a second; predicts until it has.
            if (missing.Contains("mesh_shadow_comparisons_total"))
                Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", Infer)).Status);
            if (missing.Length > 0) await Task.Delay(250);
        } while (missing.Length > 0 && watch.Elapsed < TimeSpan.FromSeconds(20));
        Assert.True(missing.Length == 0, "not scraped: " + string.Join(", ", missing));
        Assert.All(text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')), line => Assert.Matches(SampleLine(), line));
        Assert.Matches($"mesh_fleet_devices\\{{[^}}]*mesh_model=\"{model}\"[^}}]*\\}} 1", text);
    }

    [Fact]
    public async Task A_second_silo_in_the_process_neither_shows_in_this_scrape_nor_empties_it_when_it_stops()
    {
        // A silo scrapes only its own meter factory's instruments: another silo hosted in the same
        // process (as tests and embedding applications do) has instruments of the same names.
        var other = new OpenGateway();
        await other.InitializeAsync();
        var otherModel = TestModels.UniqueName("other-silo");
        try
        {
            await other.App.Services.GetRequiredService<MeshClient>().DeployAsync(otherModel, TestModels.Mlp);
            Assert.Equal(HttpStatusCode.OK, (await other.Http.PostJsonAsync($"/v2/models/{otherModel}/infer", Infer)).Status);
            Assert.Contains($"mesh_model=\"{otherModel}\"", await other.Http.GetStringAsync("/metrics"));
        }
        finally
        {
            await other.DisposeAsync();
        }

        var model = TestModels.UniqueName("this-silo");
        await gateway.App.Services.GetRequiredService<MeshClient>().DeployAsync(model, TestModels.Mlp);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", Infer)).Status);
        var text = await gateway.Http.GetStringAsync("/metrics");
        Assert.DoesNotContain(otherModel, text);
        Assert.Matches($"mesh_predict_requests_total\\{{[^}}]*mesh_model=\"{model}\"[^}}]*\\}} 1", text);
        Assert.Contains("orleans_", text);
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after()
    {
        var mesh = gateway.App.Services.GetRequiredService<MeshClient>();
        var model = TestModels.UniqueName("busy-http");
        // Runs of tens of milliseconds (2048 wide, 256 rows): two runners and a queue of one are full long enough
        // for the burst to find them full, however slowly the thread pool hands out threads today.
        await mesh.DeployAsync(model, MlpModel.Build(new MlpModel.Options(Hidden: 2048, Seed: 9)));
        await mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 1, MaxQueueSize: 1));
        var rows = GatewayHttp.FloatList(MlpModel.SampleInput(256));
        var body = $$"""{"inputs":[{"name":"input","shape":[256,64],"datatype":"FP32","data":[{{rows}}]}]}""";

        var responses = await Task.WhenAll(Enumerable.Range(0, 24).Select(async _ =>
        {
            using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            var response = await gateway.Http.PostAsync($"/v2/models/{model}/infer", content);
            return (response.StatusCode, response.Headers.RetryAfter, Text: await response.Content.ReadAsStringAsync());
        }));

        var refused = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, r =>
        {
            Assert.True(r.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
            Assert.Contains("the queue is full", r.Text);
        });
        Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.OK);
    }

    // | `instrument` | `series` | kind | ... | appears |
    [GeneratedRegex(@"^\| `mesh\.[a-z_.]+` \| `([a-z_]+)` \| (counter|gauge|histogram) \|.*\| ([^|]+?) \|$")]
    private static partial Regex DocumentedRow();

    // name{labels} value [timestamp], as the Prometheus text format writes a sample.
    [GeneratedRegex("""^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?[0-9.eE+\-]+(Inf)?( [0-9]+)?$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (NaN|\+Inf|-Inf)( [0-9]+)?$""")]
    private static partial Regex SampleLine();
}
