using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Mesh.Client.Grpc;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests.Gateway;

/// <summary>
/// Triton's extensions that its tools (perf_analyzer, the example clients) call unasked, in Triton's shapes on
/// both transports: model configuration, statistics, the repository RPCs, an error body for every unknown route,
/// and clear refusals for the sequence and streaming extensions Mesh does not implement.
/// </summary>
[Collection(OpenGatewayCollection.Name), Trait("Category", "Integration")]
public class TritonExtensionTests(OpenGateway gateway)
{
    private static string Row => GatewayHttp.FloatList(MlpModel.SampleInput(1));

    private async Task<string> DeployAsync(string prefix, Mesh.Abstractions.Models.ServingPolicy? policy = null)
    {
        var model = TestModels.UniqueName(prefix);
        var mesh = gateway.App.Services.GetRequiredService<Mesh.Client.MeshClient>();
        await mesh.DeployAsync(model, TestModels.Mlp);
        if (policy is not null) await mesh.SetPolicyAsync(model, policy);
        return model;
    }

    [Fact]
    public async Task Server_metadata_lists_exactly_the_extensions_mesh_implements()
    {
        var (_, body) = await gateway.Http.GetJsonAsync("/v2");
        Assert.Equal(["binary_tensor_data", "model_repository", "model_configuration", "statistics"], body.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));
        var grpc = await gateway.Grpc.ServerMetadataAsync(new ServerMetadataRequest());
        Assert.Equal(["binary_tensor_data", "model_repository", "model_configuration", "statistics"], grpc.Extensions);
    }

    [Fact]
    public async Task Model_configuration_answers_in_tritons_shape_over_rest_and_grpc()
    {
        var model = await DeployAsync("config", Mesh.Abstractions.Models.ServingPolicy.Default with { MaxBatchSize = 16, MaxQueueDelayMicroseconds = 300, PreferredBatchSizes = [4, 8], MaxQueueSize = 100 });

        var (status, config) = await gateway.Http.GetJsonAsync($"/v2/models/{model}/config");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((model, "onnxruntime_onnx", "onnxruntime", 16), (config.GetProperty("name").GetString(), config.GetProperty("platform").GetString(),
            config.GetProperty("backend").GetString(), config.GetProperty("max_batch_size").GetInt32()));
        var input = Assert.Single(config.GetProperty("input").EnumerateArray());
        Assert.Equal(("input", "TYPE_FP32"), (input.GetProperty("name").GetString(), input.GetProperty("data_type").GetString()));
        // The batch dimension is left out of dims when max_batch_size > 0, and dims are JSON numbers, as Triton's are.
        Assert.Equal([64L], input.GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()));
        var output = Assert.Single(config.GetProperty("output").EnumerateArray());
        Assert.Equal(("probabilities", "TYPE_FP32", 10L), (output.GetProperty("name").GetString(), output.GetProperty("data_type").GetString(), output.GetProperty("dims")[0].GetInt64()));
        var batching = config.GetProperty("dynamic_batching");
        Assert.Equal(300, batching.GetProperty("max_queue_delay_microseconds").GetInt64());
        Assert.Equal([4, 8], batching.GetProperty("preferred_batch_size").EnumerateArray().Select(s => s.GetInt32()));
        Assert.Equal(100, batching.GetProperty("default_queue_policy").GetProperty("max_queue_size").GetInt32());
        Assert.Equal([1L], config.GetProperty("version_policy").GetProperty("specific").GetProperty("versions").EnumerateArray().Select(v => v.GetInt64()));
        var group = Assert.Single(config.GetProperty("instance_group").EnumerateArray());
        Assert.Equal("KIND_CPU", group.GetProperty("kind").GetString());
        Assert.True(group.GetProperty("count").GetInt32() >= 1);

        var grpc = (await gateway.Grpc.ModelConfigAsync(new ModelConfigRequest { Name = model, Version = "1" })).Config;
        Assert.Equal((model, "onnxruntime_onnx", 16), (grpc.Name, grpc.Platform, grpc.MaxBatchSize));
        Assert.Equal([64L], grpc.Input[0].Dims);
        Assert.Equal(DataType.TypeFp32, grpc.Input[0].DataType);
        Assert.Equal(300UL, grpc.DynamicBatching.MaxQueueDelayMicroseconds);

        var (missing, error) = await gateway.Http.GetJsonAsync("/v2/models/absent/config");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("model 'absent' is not deployed", error.GetProperty("error").GetString());
        var rpc = await Assert.ThrowsAsync<RpcException>(() => gateway.Grpc.ModelConfigAsync(new ModelConfigRequest { Name = "absent" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, rpc.StatusCode);
    }

    [Fact]
    public async Task A_model_that_cannot_batch_has_max_batch_size_0_and_its_whole_shape()
    {
        var model = await DeployAsync("unbatched", Mesh.Abstractions.Models.ServingPolicy.Default with { MaxBatchSize = 1 });
        var (_, config) = await gateway.Http.GetJsonAsync($"/v2/models/{model}/config");
        Assert.Equal(0, config.GetProperty("max_batch_size").GetInt32());
        Assert.Equal([-1L, 64], config.GetProperty("input")[0].GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()));
        Assert.False(config.TryGetProperty("dynamic_batching", out _));
    }

    [Fact]
    public async Task Statistics_count_exactly_the_requests_sent_over_rest_and_grpc()
    {
        var model = await DeployAsync("stats");
        var body = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{Row}}]}]}""";
        for (var i = 0; i < 5; i++) Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", body)).Status);
        var twoRows = $$"""{"inputs":[{"name":"input","shape":[2,64],"datatype":"FP32","data":[{{Row}},{{Row}}]}]}""";
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", twoRows)).Status);
        var bad = """{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}""";
        Assert.Equal(HttpStatusCode.BadRequest, (await gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", bad)).Status);

        // Statistics are recorded as the response leaves; the HTTP answer can arrive a moment before.
        JsonElement stat = default;
        for (var i = 0; i < 50; i++)
        {
            var (status, stats) = await gateway.Http.GetJsonAsync($"/v2/models/{model}/stats");
            Assert.Equal(HttpStatusCode.OK, status);
            stat = Assert.Single(stats.GetProperty("model_stats").EnumerateArray());
            if (stat.GetProperty("inference_stats").GetProperty("success").GetProperty("count").GetInt64() == 6
                && stat.GetProperty("inference_stats").GetProperty("fail").GetProperty("count").GetInt64() == 1) break;
            await Task.Delay(50);
        }
        Assert.Equal((model, "1"), (stat.GetProperty("name").GetString(), stat.GetProperty("version").GetString()));
        var inference = stat.GetProperty("inference_stats");
        Assert.Equal(6, inference.GetProperty("success").GetProperty("count").GetInt64());
        Assert.Equal(1, inference.GetProperty("fail").GetProperty("count").GetInt64());
        Assert.True(inference.GetProperty("success").GetProperty("ns").GetInt64() > 0);
        Assert.Equal(7, stat.GetProperty("inference_count").GetInt64());
        var executions = stat.GetProperty("execution_count").GetInt64();
        Assert.InRange(executions, 1, 6);
        var batches = stat.GetProperty("batch_stats").EnumerateArray().ToList();
        Assert.Equal(executions, batches.Sum(b => b.GetProperty("compute_infer").GetProperty("count").GetInt64()));
        Assert.Equal(7, batches.Sum(b => b.GetProperty("batch_size").GetInt64() * b.GetProperty("compute_infer").GetProperty("count").GetInt64()));
        Assert.True(stat.GetProperty("last_inference").GetInt64() > DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds());

        var grpc = await gateway.Grpc.ModelStatisticsAsync(new ModelStatisticsRequest { Name = model, Version = "1" });
        var one = Assert.Single(grpc.ModelStats);
        Assert.Equal((6UL, 1UL, 7UL), (one.InferenceStats.Success.Count, one.InferenceStats.Fail.Count, one.InferenceCount));

        var (_, all) = await gateway.Http.GetJsonAsync("/v2/models/stats");
        Assert.Contains(all.GetProperty("model_stats").EnumerateArray(), s => s.GetProperty("name").GetString() == model);
        Assert.Equal(HttpStatusCode.NotFound, (await gateway.Http.GetJsonAsync("/v2/models/absent/stats")).Status);
    }

    [Fact]
    public async Task A_configured_max_queue_delay_holds_even_the_first_request_for_company()
    {
        // 300 ms of delay: the four requests arrive well within it and must run as one execution, the first
        // included, though a runner was free when it came (it used to run alone at once).
        var model = await DeployAsync("delayed", Mesh.Abstractions.Models.ServingPolicy.Default with { MaxBatchSize = 8, MaxQueueDelayMicroseconds = 300_000 });
        var body = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{Row}}]}]}""";
        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", body)));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));

        var stat = (await gateway.Grpc.ModelStatisticsAsync(new ModelStatisticsRequest { Name = model })).ModelStats.Single();
        for (var i = 0; i < 50 && stat.InferenceCount < 4; i++)
        {
            await Task.Delay(20);
            stat = (await gateway.Grpc.ModelStatisticsAsync(new ModelStatisticsRequest { Name = model })).ModelStats.Single();
        }
        Assert.Equal((4UL, 1UL), (stat.InferenceCount, stat.ExecutionCount));
        Assert.Equal(4UL, Assert.Single(stat.BatchStats).BatchSize);
    }

    [Fact]
    public async Task The_grpc_repository_rpcs_index_load_and_unload()
    {
        var model = await DeployAsync("repo");
        var index = await gateway.Grpc.RepositoryIndexAsync(new RepositoryIndexRequest());
        var entry = Assert.Single(index.Models, m => m.Name == model);
        Assert.Equal(("1", "READY"), (entry.Version, entry.State));

        await gateway.Grpc.RepositoryModelLoadAsync(new RepositoryModelLoadRequest { ModelName = model });
        var sessions = gateway.App.Services.GetRequiredService<Mesh.Grains.Inference.SessionPool>();
        Assert.Contains((model, 1), sessions.Loaded());
        await gateway.Grpc.RepositoryModelUnloadAsync(new RepositoryModelUnloadRequest { ModelName = model });
        Assert.DoesNotContain((model, 1), sessions.Loaded());

        // A load that hands the file over deploys it first, as Triton's file: parameter does.
        var wider = MlpModel.Build(new MlpModel.Options(Seed: 5));
        await gateway.Grpc.RepositoryModelLoadAsync(new RepositoryModelLoadRequest
        {
            ModelName = model,
            Parameters = { ["file:2/model.onnx"] = new ModelRepositoryParameter { BytesParam = ByteString.CopyFrom(wider) } },
        });
        Assert.Contains((model, 2), sessions.Loaded());

        var unknown = await Assert.ThrowsAsync<RpcException>(() => gateway.Grpc.RepositoryModelUnloadAsync(new RepositoryModelUnloadRequest { ModelName = "absent" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var (restStatus, restError) = await gateway.Http.PostJsonAsync("/v2/repository/models/absent/unload", "{}");
        Assert.Equal(HttpStatusCode.NotFound, restStatus);
        Assert.Equal("model 'absent' is not deployed", restError.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Unload_makes_a_model_unready_and_refuses_its_predicts_on_both_transports_until_load()
    {
        var model = await DeployAsync("unload");
        var body = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{Row}}]}]}""";
        var grpcInfer = new ModelInferRequest { ModelName = model, Inputs = { new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Shape = { 1, 64 } } } };
        grpcInfer.RawInputContents.Add(ByteString.CopyFrom(new byte[64 * 4]));
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", body)).Status);
        var scheduler = gateway.App.Services.GetRequiredService<Mesh.Grains.Inference.InferenceScheduler>();
        Assert.True(scheduler.HasBatcher(model, 1));

        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync($"/v2/repository/models/{model}/unload", "{}")).Status);
        // Its session went, and with it the batcher: nothing of the version stays behind in the silo.
        Assert.False(scheduler.HasBatcher(model, 1));
        var (ready, notReady) = await gateway.Http.GetJsonAsync($"/v2/models/{model}/ready");
        Assert.Equal(HttpStatusCode.BadRequest, ready);
        Assert.Contains($"model '{model}' is unloaded", notReady.GetProperty("error").GetString());
        Assert.False((await gateway.Grpc.ModelReadyAsync(new ModelReadyRequest { Name = model })).Ready);
        var (refused, error) = await gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", body);
        Assert.Equal(HttpStatusCode.BadRequest, refused);
        Assert.StartsWith($"model '{model}' is unloaded and serves no predicts; load it again", error.GetProperty("error").GetString());
        var rpc = await Assert.ThrowsAsync<RpcException>(() => gateway.Grpc.ModelInferAsync(grpcInfer).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, rpc.StatusCode);
        var (_, index) = await gateway.Http.PostJsonAsync("/v2/repository/index", """{"ready":true}""");
        Assert.DoesNotContain(index.EnumerateArray(), e => e.GetProperty("name").GetString() == model);

        await gateway.Grpc.RepositoryModelLoadAsync(new RepositoryModelLoadRequest { ModelName = model });
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.GetJsonAsync($"/v2/models/{model}/ready")).Status);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostJsonAsync($"/v2/models/{model}/infer", body)).Status);
        Assert.Equal(model, (await gateway.Grpc.ModelInferAsync(grpcInfer)).ModelName);
    }

    [Fact]
    public async Task The_index_reports_retired_versions_as_unavailable_and_honours_ready()
    {
        var model = await DeployAsync("index");
        var mesh = gateway.App.Services.GetRequiredService<Mesh.Client.MeshClient>();
        await mesh.DeployAsync(model, MlpModel.Build(new MlpModel.Options(Seed: 6)));
        await mesh.RetireAsync(model, 1);

        var (_, all) = await gateway.Http.PostJsonAsync("/v2/repository/index", "{}");
        var ours = all.EnumerateArray().Where(e => e.GetProperty("name").GetString() == model).ToDictionary(e => e.GetProperty("version").GetString()!);
        Assert.Equal(("UNAVAILABLE", "retired"), (ours["1"].GetProperty("state").GetString(), ours["1"].GetProperty("reason").GetString()));
        Assert.Equal("READY", ours["2"].GetProperty("state").GetString());

        var (_, ready) = await gateway.Http.PostJsonAsync("/v2/repository/index", """{"ready":true}""");
        Assert.Equal(["2"], ready.EnumerateArray().Where(e => e.GetProperty("name").GetString() == model).Select(e => e.GetProperty("version").GetString()));
        var grpcReady = await gateway.Grpc.RepositoryIndexAsync(new RepositoryIndexRequest { Ready = true });
        Assert.Equal(["2"], grpcReady.Models.Where(m => m.Name == model).Select(m => m.Version));
        Assert.Equal(HttpStatusCode.BadRequest, (await gateway.Http.PostJsonAsync("/v2/repository/index", """{"ready":"yes"}""")).Status);
    }

    [Theory]
    [InlineData("GET", "/v2/nowhere", HttpStatusCode.NotFound, "no such endpoint: GET /v2/nowhere")]
    [InlineData("GET", "/v2/models/mlp/versions/1/nothing", HttpStatusCode.NotFound, "no such endpoint")]
    [InlineData("DELETE", "/v2/models/mlp", HttpStatusCode.MethodNotAllowed, "DELETE is not allowed on /v2/models/mlp")]
    public async Task Every_unknown_route_or_method_under_v2_gets_the_protocols_error_body(string method, string path, HttpStatusCode expected, string message)
    {
        var (status, body) = await gateway.Http.SendAsync(new HttpMethod(method), path);
        Assert.Equal(expected, status);
        Assert.Contains(message, body.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("sequence_id")]
    [InlineData("sequence_start")]
    [InlineData("sequence_end")]
    public async Task Sequence_parameters_are_refused_naming_the_parameter_on_both_transports(string parameter)
    {
        var value = parameter == "sequence_id" ? "7" : "true";
        var body = $$"""{"parameters":{"{{parameter}}":{{value}}},"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{Row}}]}]}""";
        var (status, error) = await gateway.Http.PostJsonAsync("/v2/models/mlp/infer", body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.StartsWith($"request field 'parameters.{parameter}': Mesh does not implement Triton's sequence extension", error.GetProperty("error").GetString());

        var request = new ModelInferRequest { ModelName = "mlp", Inputs = { new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Shape = { 1, 64 } } } };
        request.RawInputContents.Add(ByteString.CopyFrom(new byte[64 * 4]));
        request.Parameters[parameter] = parameter == "sequence_id" ? new InferParameter { Int64Param = 7 } : new InferParameter { BoolParam = true };
        var rpc = await Assert.ThrowsAsync<RpcException>(() => gateway.Grpc.ModelInferAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, rpc.StatusCode);
        Assert.Contains($"parameters.{parameter}", rpc.Status.Detail);
    }

    [Fact]
    public async Task A_streaming_client_is_told_at_once_that_streaming_is_not_implemented()
    {
        using var call = gateway.Grpc.ModelStreamInfer(deadline: DateTime.UtcNow.AddSeconds(10));
        var rpc = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.Unimplemented, rpc.StatusCode);
        Assert.Contains("call ModelInfer for each request", rpc.Status.Detail);
    }
}
