using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Telemetry;
using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Serving;

[Collection(TwoSiloClusterCollection.Name), Trait("Category", "Integration")]
public class TelemetryTests(TwoSiloCluster fixture)
{
    [Fact]
    public async Task Each_predict_is_a_span_with_model_version_and_cold_start()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            // As an exporter is set up: the mesh's source and Orleans' own, which carry the trace across calls.
            ShouldListenTo = source => source.Name == MeshTelemetry.SourceName || source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var model = TestModels.UniqueName("traced");
        await fixture.Mesh.DeployAsync(model, TestModels.Mlp);

        ActivityTraceId callerTrace;
        using (var caller = new Activity("caller").Start())
        {
            callerTrace = caller.TraceId;
            await fixture.Mesh.PredictAsync(new PredictRequest(model, [TestModels.MlpInput(1)], Version: 1));
        }
        await Assert.ThrowsAsync<MissingInputException>(() => fixture.Mesh.PredictAsync(new PredictRequest(model, [], Version: 1)));

        var predicts = spans.Where(s => s.OperationName == MeshTelemetry.Spans.Predict && (string?)s.GetTagItem(MeshTelemetry.Tags.Model) == model).ToList();
        Assert.Equal(2, predicts.Count);
        var ok = predicts.Single(s => s.Status != ActivityStatusCode.Error);
        Assert.Equal(1, ok.GetTagItem(MeshTelemetry.Tags.Version));
        Assert.Equal(true, ok.GetTagItem(MeshTelemetry.Tags.ColdStart));
        Assert.Equal(callerTrace, ok.TraceId);
        // The cold start happens in the batch that serves the predict.
        var batch = Assert.Single(spans, s => s.OperationName == MeshTelemetry.Spans.Batch && s.ParentSpanId == ok.SpanId);
        Assert.Contains(spans, s => s.OperationName == MeshTelemetry.Spans.SessionLoad && s.ParentSpanId == batch.SpanId);
        var failed = predicts.Single(s => s.Status == ActivityStatusCode.Error);
        Assert.Equal(nameof(MissingInputException), failed.GetTagItem(MeshTelemetry.Tags.ErrorType));
    }
}
