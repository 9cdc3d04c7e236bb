using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;
using Mesh.Abstractions.Telemetry;
using Mesh.Client;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.IntegrationTests.Serving;

[Collection(TwoSiloClusterCollection.Name), Trait("Category", "Integration")]
public class BatchingTests(TwoSiloCluster fixture)
{
    private static readonly byte[] Heavy = MlpModel.Build(new MlpModel.Options(Hidden: 1024, Seed: 3));

    [Fact]
    public async Task Concurrent_predicts_are_batched_and_equal_unbatched_results()
    {
        using var meter = new MeshMeterRecorder();
        var model = TestModels.UniqueName("batched");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        // A batch waits up to 5 ms to fill, so batching shows however the machine's load spaces the requests out.
        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 32, MaxQueueDelayMicroseconds: 5000));
        var rows = Enumerable.Range(0, 256).Select(i => MlpModel.SampleInput(1, seed: 1000 + i)).ToArray();

        var responses = await Task.WhenAll(rows.Select(row => fixture.Mesh.PredictAsync(model, NamedTensor.Create("input", [1, 64], row))));

        Assert.True(meter.Max(MeshTelemetry.Instruments.BatchSize, model) > 1, $"no batch of more than one row was run: {meter.Count(MeshTelemetry.Instruments.BatchSize, model)} batches, {meter.Count(MeshTelemetry.Instruments.ColdStarts, model)} cold starts, requests {meter.Count(MeshTelemetry.Instruments.PredictRequests, model)}");
        using var session = new InferenceSession(TestModels.Mlp);
        for (var i = 0; i < rows.Length; i++)
        {
            using var value = OrtValue.CreateTensorValueFromMemory(rows[i], [1, 64]);
            using var alone = session.Run(new RunOptions(), [MlpModel.InputName], [value], [MlpModel.OutputName]);
            Assert.Equal(alone[0].GetTensorDataAsSpan<float>().ToArray(), responses[i].Output(MlpModel.OutputName).ToArray<float>());
        }
    }

    [Fact]
    public async Task A_stack_from_a_client_runs_in_pieces_of_the_max_batch_and_is_cut_back_per_request()
    {
        using var meter = new MeshMeterRecorder();
        var model = TestModels.UniqueName("stacked");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 4));
        int[] rows = [1, 2, 3, 1, 2];
        var parts = rows.Select((n, i) => new[] { TestModels.MlpInput(n, seed: 50 + i) }).ToList();
        var lane = fixture.Cluster.Client.GetGrain<Mesh.Abstractions.Grains.IInferenceGrain>(Mesh.Abstractions.Grains.InferenceLanes.Key(model, 0));

        var outcome = await lane.PredictStackedAsync(new PredictRequest(model, TensorStacking.Stack(parts), Caller: "stack-" + model), rows);

        Assert.Null(outcome.Each);
        var output = outcome.Stacked!.Output(MlpModel.OutputName);
        Assert.Equal([9, 10], output.Shape);
        var expected = parts.SelectMany(p => RunAlone(p[0])).ToArray();
        Assert.Equal(expected, output.ToArray<float>());
        // Pieces cut between requests, none over MaxBatchSize: [1,2] [3,1] [2].
        Assert.Equal([2.0, 3.0, 4.0], meter.Values(MeshTelemetry.Instruments.BatchSize, model).Order());
        var usage = (await WaitForUsageAsync(fixture.Mesh, "stack-" + model, rows.Length)).Single(u => u.Caller == "stack-" + model);
        Assert.Equal((rows.Length, rows.Sum()), ((int)usage.Requests, (int)usage.Rows));
    }

    [Fact]
    public async Task A_stack_for_a_model_that_does_not_batch_is_answered_per_request()
    {
        var model = TestModels.UniqueName("unstacked");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 1));
        int[] rows = [2, 1];
        var parts = rows.Select((n, i) => new[] { TestModels.MlpInput(n, seed: 70 + i) }).ToList();
        var lane = fixture.Cluster.Client.GetGrain<Mesh.Abstractions.Grains.IInferenceGrain>(Mesh.Abstractions.Grains.InferenceLanes.Key(model, 0));

        var outcome = await lane.PredictStackedAsync(new PredictRequest(model, TensorStacking.Stack(parts)), rows);

        Assert.Null(outcome.Stacked);
        Assert.Equal(parts.Select(p => RunAlone(p[0])), outcome.Each!.Select(o => o.Response!.Output(MlpModel.OutputName).ToArray<float>()));
        var e = await Assert.ThrowsAsync<InvalidRequestException>(() => lane.PredictStackedAsync(new PredictRequest(model, TensorStacking.Stack(parts)), [2, 2]));
        Assert.Equal("rows", e.Field);
    }

    private static float[] RunAlone(NamedTensor input)
    {
        using var session = new InferenceSession(TestModels.Mlp);
        using var value = OrtValue.CreateTensorValueFromMemory(input.ToArray<float>(), input.Shape);
        using var result = session.Run(new RunOptions(), [MlpModel.InputName], [value], [MlpModel.OutputName]);
        return result[0].GetTensorDataAsSpan<float>().ToArray();
    }

    [Fact]
    public async Task A_bad_request_among_busy_good_ones_fails_alone()
    {
        var model = TestModels.UniqueName("mixed");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        var calls = Enumerable.Range(0, 120).Select(i => i % 40 == 7
            ? fixture.Mesh.PredictAsync(model, NamedTensor.Create("input", [1, 63], new float[63]))
            : fixture.Mesh.PredictAsync(model, TestModels.MlpInput(1 + i % 3, seed: i))).ToList();

        await Task.WhenAll(calls.Select(c => c.ContinueWith(_ => { })));

        for (var i = 0; i < calls.Count; i++)
        {
            if (i % 40 == 7) Assert.IsType<InputDimensionException>(calls[i].Exception?.InnerException);
            else Assert.Equal([1 + i % 3, 10], (await calls[i]).Output(MlpModel.OutputName).Shape);
        }
    }

    [Fact]
    public async Task A_full_queue_refuses_at_once_with_a_retry_hint()
    {
        var model = TestModels.UniqueName("crowded");
        await fixture.Mesh.DeployAsync(model, Heavy);
        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 1, MaxQueueSize: 1));

        var calls = Enumerable.Range(0, 64).Select(i => fixture.Mesh.PredictAsync(model, TestModels.MlpInput(64, seed: i))).ToList();
        await Task.WhenAll(calls.Select(c => c.ContinueWith(_ => { })));

        var refused = calls.Where(c => c.IsFaulted).Select(c => c.Exception!.InnerException).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, e =>
        {
            var overloaded = Assert.IsType<OverloadedException>(e);
            Assert.True(overloaded.RetryAfter > TimeSpan.Zero);
            Assert.Contains("the queue is full (1 requests waiting, the model's MaxQueueSize)", overloaded.Message);
        });
        Assert.Contains(calls, c => c.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task A_request_whose_deadline_passes_in_the_queue_is_never_run()
    {
        var model = TestModels.UniqueName("late");
        await fixture.Mesh.DeployAsync(model, Heavy);
        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 1));
        var busy = new MeshClient(fixture.Cluster.Client, "busy-" + model);
        var lateCaller = "late-" + model;

        var work = Enumerable.Range(0, 40).Select(i => busy.PredictAsync(model, TestModels.MlpInput(64, seed: i))).ToList();
        var late = Enumerable.Range(0, 5).Select(i => fixture.Mesh.PredictAsync(new PredictRequest(model, [TestModels.MlpInput(64, seed: 99)],
            Deadline: DateTimeOffset.UtcNow.AddMilliseconds(1), Caller: lateCaller))).ToList();
        await Task.WhenAll(work.Concat(late).Select(c => c.ContinueWith(_ => { })));

        Assert.All(late, c => Assert.IsType<DeadlineExceededException>(c.Exception?.InnerException));
        Assert.All(work, c => Assert.True(c.IsCompletedSuccessfully));
        // Usage is counted only for runs: the busy caller's 40 arrive, the late caller never appears.
        var usage = await WaitForUsageAsync(fixture.Mesh, "busy-" + model, 40);
        Assert.DoesNotContain(usage, u => u.Caller == lateCaller);
    }

    [Fact]
    public async Task Usage_counters_add_up_to_the_requests_sent()
    {
        var model = TestModels.UniqueName("metered");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        var caller = "meter-" + model;
        var client = new MeshClient(fixture.Cluster.Client, caller);
        var sizes = Enumerable.Range(0, 37).Select(i => 1 + i % 4).ToArray();

        await Task.WhenAll(sizes.Select((rows, i) => client.PredictAsync(model, TestModels.MlpInput(rows, seed: i))));

        var record = (await WaitForUsageAsync(fixture.Mesh, caller, sizes.Length)).Single(u => u.Caller == caller);
        Assert.Equal((sizes.Length, sizes.Sum()), ((int)record.Requests, (int)record.Rows));
        Assert.True(record.ComputeMs > 0);
        Assert.True(record.QueueMs >= 0);
    }

    public static async Task<UsageRecord[]> WaitForUsageAsync(MeshClient mesh, string caller, long requests)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        UsageRecord[] usage;
        do
        {
            usage = await mesh.GetUsageAsync();
            if (usage.Any(u => u.Caller == caller && u.Requests >= requests)) return usage;
            await Task.Delay(200);
        } while (DateTime.UtcNow < deadline);
        return usage;
    }
}

[Collection(ShortIdleClusterCollection.Name), Trait("Category", "Integration")]
public class WarmPolicyTests(ShortIdleCluster fixture)
{
    [Fact]
    public async Task Min_warm_loads_without_a_predict_and_lets_the_session_go_when_it_returns_to_zero()
    {
        using var meter = new MeshMeterRecorder();
        var model = TestModels.UniqueName("warm");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);

        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MinWarm: 1));
        await WaitUntil(() => meter.LoadedSessions(model) == 1, "the warm session to load");

        // That a warm session outlives its idle timeout is SessionPoolTests' to show, on a fake clock.
        Assert.False((await fixture.Mesh.PredictAsync(model, TestModels.MlpInput(1))).ColdStart);

        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MinWarm: 0));
        await WaitUntil(() => meter.LoadedSessions(model) == 0, "the session to go idle once MinWarm is 0");
    }

    [Fact]
    public async Task Policy_with_a_bad_field_is_refused_naming_it()
    {
        var model = TestModels.UniqueName("policy");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);
        var e = await Assert.ThrowsAsync<InvalidPolicyException>(() => fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 0)));
        Assert.Equal($"model '{model}' policy MaxBatchSize: must be 1 to 65536 (was 0)", e.Message);
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(condition(), $"timed out waiting for {what}");
    }
}

public class SessionCapTests(CappedCluster fixture) : IClassFixture<CappedCluster>
{
    [Fact, Trait("Category", "Integration")]
    public async Task At_the_cap_the_least_recently_used_session_is_evicted()
    {
        using var meter = new MeshMeterRecorder();
        var models = new[] { TestModels.UniqueName("cap-a"), TestModels.UniqueName("cap-b"), TestModels.UniqueName("cap-c") };
        foreach (var m in models) await fixture.Mesh.DeployAsync(m, TestModels.Mlp);

        foreach (var m in models) Assert.True((await fixture.Mesh.PredictAsync(m, TestModels.MlpInput(1))).ColdStart);

        Assert.Equal([0, 1, 1], models.Select(meter.LoadedSessions));
        Assert.True((await fixture.Mesh.PredictAsync(models[0], TestModels.MlpInput(1))).ColdStart);
        Assert.Equal([1, 0, 1], models.Select(meter.LoadedSessions));
    }
}

[Collection(ShortIdleClusterCollection.Name), Trait("Category", "Integration")]
public class PriorityTests(ShortIdleCluster fixture)
{
    [Fact]
    public async Task A_high_priority_request_overtakes_the_queued_normal_ones()
    {
        const int Backlog = 400;
        var model = TestModels.UniqueName("priority");
        await fixture.Mesh.DeployAsync(model, MlpModel.Build(new MlpModel.Options(Hidden: 1024, Seed: 5)));
        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 1));
        await fixture.Mesh.PredictAsync(model, TestModels.MlpInput(1)); // loaded, so the queue is what is measured

        // A long backlog of normal requests; the high one is sent once the backlog is being worked off, so it
        // finds a full queue however fast or slow the machine is today.
        var finished = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var normal = Enumerable.Range(0, Backlog).Select(i => fixture.Mesh.PredictAsync(model, TestModels.MlpInput(128, seed: i))
            .ContinueWith(_ => finished.Enqueue("normal"))).ToList();
        while (finished.Count < 5) await Task.Delay(1);
        // Counted from the moment it is sent: on a loaded machine this test's own thread may get to send it late.
        var alreadyDone = finished.Count;
        var high = fixture.Mesh.PredictAsync(new PredictRequest(model, [TestModels.MlpInput(128, seed: 777)], Priority: PredictPriority.High))
            .ContinueWith(_ => finished.Enqueue("high"));
        await Task.WhenAll(normal.Append(high));

        var overtakenBy = finished.ToList().IndexOf("high") - alreadyDone;
        var pending = Backlog - alreadyDone;
        Assert.True(pending >= 20, $"only {pending} normal requests were left to overtake when it was sent");
        Assert.True(overtakenBy < pending / 2, $"{overtakenBy} of the {pending} normal requests still pending finished before the high-priority one");
    }
}

[Collection(TwoSiloClusterCollection.Name), Trait("Category", "Integration")]
public class RunFailureTests(TwoSiloCluster fixture)
{
    [Fact]
    public async Task A_run_that_fails_in_onnxruntime_fails_only_its_own_requests()
    {
        var model = TestModels.UniqueName("add");
        await fixture.Mesh.DeployAsync(model, AddModel.Build());
        await fixture.Mesh.SetPolicyAsync(model, new ServingPolicy(MaxBatchSize: 32, MaxQueueDelayMicroseconds: 2000));
        NamedTensor Row(string name, int width, float value) => NamedTensor.Create(name, [1, width], Enumerable.Repeat(value, width).ToArray());

        var calls = Enumerable.Range(0, 90).Select(i => i % 30 == 4
            ? fixture.Mesh.PredictAsync(model, Row("a", 3, i), Row("b", 4, 1))   // widths disagree: ONNX Runtime refuses the Add
            : fixture.Mesh.PredictAsync(model, Row("a", 3, i), Row("b", 3, 1))).ToList();
        await Task.WhenAll(calls.Select(c => c.ContinueWith(_ => { })));

        for (var i = 0; i < calls.Count; i++)
        {
            if (i % 30 == 4)
            {
                var e = Assert.IsType<InferenceFailedException>(calls[i].Exception?.InnerException);
                Assert.Contains("ONNX Runtime could not run the request", e.Message);
            }
            else Assert.Equal([i + 1f, i + 1f, i + 1f], (await calls[i]).Output("sum").ToArray<float>());
        }
    }
}
