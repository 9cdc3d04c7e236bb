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
        string text = "";
        for (var i = 0; i < 50 && !text.Contains("mesh_batch_size"); i++)
        {
            await Task.Delay(100);
            text = await gateway.Http.GetStringAsync("/metrics");
        }

        var samples = text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.All(samples, line => Assert.Matches(SampleLine(), line));
        foreach (var series in new[] { "mesh_predict_requests", "mesh_predict_duration", "mesh_batch_size", "mesh_compute_duration", "mesh_queue_duration", "mesh_cold_starts", "mesh_sessions_loaded", "mesh_usage_requests" })
            Assert.Contains(samples, l => l.StartsWith(series, StringComparison.Ordinal));
        Assert.Contains(samples, l => l.StartsWith("orleans_", StringComparison.Ordinal));
        Assert.Contains("# TYPE mesh_predict_requests_total counter", text);
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

    // name{labels} value [timestamp], as the Prometheus text format writes a sample.
    [GeneratedRegex("""^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?[0-9.eE+\-]+(Inf)?( [0-9]+)?$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (NaN|\+Inf|-Inf)( [0-9]+)?$""")]
    private static partial Regex SampleLine();
}
