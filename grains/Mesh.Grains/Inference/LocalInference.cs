using System.Diagnostics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Telemetry;
using Mesh.Abstractions.Tensors;
using Mesh.Grains.Telemetry;

namespace Mesh.Grains.Inference;

/// <summary>
/// A predict served in this silo: the version from the silo's routing table, then the version's batcher here.
/// The inference grain runs this for calls that come through Orleans; the silo's own HTTP and gRPC gateway runs it
/// directly, since a gateway request is already in the silo that should serve it and a grain message would only
/// add a hop.
/// </summary>
public sealed class LocalInference(ModelVersionDirectory directory, InferenceScheduler scheduler, MeshMetrics metrics)
{
    /// <summary>Serves one predict; <paramref name="partOfGroup"/> when it arrived with others that should batch with it.</summary>
    public async Task<PredictResponse> PredictAsync(PredictRequest request, bool partOfGroup = false)
    {
        using var activity = MeshMetrics.StartServerSpan(MeshTelemetry.Spans.Predict);
        activity?.SetTag(MeshTelemetry.Tags.Model, request.Model);
        var started = Stopwatch.GetTimestamp();
        var version = request.Version ?? 0;
        try
        {
            var route = await ResolveAsync(request);
            version = route.Version.Version;
            activity?.SetTag(MeshTelemetry.Tags.Version, version);
            var response = await scheduler.PredictAsync(route.Version, route.Policy, request, allowInline: !partOfGroup);
            activity?.SetTag(MeshTelemetry.Tags.ColdStart, response.ColdStart);
            if (route.Shadow is { } shadow) _ = ShadowAsync(shadow, route.Policy, request, response);
            metrics.Predicted(request.Model, version, "success", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return response;
        }
        catch (Exception e)
        {
            Failed(activity, e);
            metrics.Predicted(request.Model, version, "failure", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            throw;
        }
    }

    /// <summary>Serves several predicts together: all queue at once, none run inline, so they share runs; each has its own outcome.</summary>
    public Task<PredictOutcome[]> PredictManyAsync(PredictRequest[] requests) =>
        Task.WhenAll(requests.Select(async request =>
        {
            try { return new PredictOutcome(await PredictAsync(request, partOfGroup: requests.Length > 1), null); }
            catch (MeshException e) { return new PredictOutcome(null, e); }
        }));

    /// <summary>
    /// Serves requests a client stacked into one (see <see cref="IInferenceGrain.PredictStackedAsync"/>). The stack
    /// enters the batcher as one entry (in pieces of at most the policy's MaxBatchSize rows, cut between requests);
    /// when the model does not batch, or the stack is refused by its checks or by ONNX Runtime, every request is
    /// served alone instead so that each gets its own answer or error.
    /// </summary>
    public async Task<StackedOutcome> PredictStackedAsync(PredictRequest stacked, int[] rows)
    {
        if (rows.Length == 0 || rows.Any(r => r <= 0) || TensorStacking.RowCount(stacked.Inputs) != rows.Sum())
            throw new InvalidRequestException("rows", $"the stacked inputs must hold exactly the {rows.Sum()} rows the {rows.Length} requests declare, at least one each");
        using var activity = MeshMetrics.StartServerSpan(MeshTelemetry.Spans.Predict);
        activity?.SetTag(MeshTelemetry.Tags.Model, stacked.Model);
        var started = Stopwatch.GetTimestamp();
        var version = stacked.Version ?? 0;
        try
        {
            var route = await ResolveAsync(stacked);
            var (info, policy) = (route.Version, route.Policy);
            version = info.Version;
            activity?.SetTag(MeshTelemetry.Tags.Version, version);
            // A split routes each request on its own, and a shadow compares each request's answer: serve them alone.
            if (!info.Signature.IsBatchable || !policy.Batches || route.BySplit || route.Shadow is not null)
                return new StackedOutcome(null, await PredictManyAsync(Unstack(stacked, rows)));

            var pieces = Pieces(rows, policy.MaxBatchSize);
            PredictResponse[] responses;
            try
            {
                if (pieces.Count == 1)
                {
                    responses = [await scheduler.PredictAsync(info, policy, stacked, allowInline: true, requests: rows.Length)];
                }
                else
                {
                    var inputs = TensorStacking.Split(stacked.Inputs, pieces.Select(p => p.Rows).ToArray(), out _)!;
                    var runs = new Task<PredictResponse>[pieces.Count];
                    for (var p = 0; p < pieces.Count; p++)
                        runs[p] = scheduler.PredictAsync(info, policy, stacked with { Inputs = inputs[p] }, allowInline: false, requests: pieces[p].Requests);
                    responses = await Task.WhenAll(runs);
                }
            }
            catch (MeshInvalidArgumentException)
            {
                // One request may be what the check or the run refused; alone, the others still get their answers.
                return new StackedOutcome(null, await PredictManyAsync(Unstack(stacked, rows)));
            }
            var response = responses.Length == 1
                ? responses[0]
                : responses[0] with
                {
                    Outputs = TensorStacking.Stack(responses.Select(r => r.Outputs).ToList()),
                    ColdStart = responses.Any(r => r.ColdStart),
                };
            activity?.SetTag(MeshTelemetry.Tags.ColdStart, response.ColdStart);
            metrics.Predicted(stacked.Model, version, "success", Stopwatch.GetElapsedTime(started).TotalMilliseconds, rows.Length);
            return new StackedOutcome(response, null);
        }
        catch (Exception e)
        {
            Failed(activity, e);
            metrics.Predicted(stacked.Model, version, "failure", Stopwatch.GetElapsedTime(started).TotalMilliseconds, rows.Length);
            throw;
        }
    }

    private async Task<Route> ResolveAsync(PredictRequest request)
    {
        ModelName.Validate(request.Model);
        var resolved = await directory.ResolveAsync(request.Model, request.Version, request.RoutingKey);
        if (request.Deadline is DateTimeOffset deadline && DateTimeOffset.UtcNow > deadline)
            throw new DeadlineExceededException(request.Model, "before the version was resolved");
        return resolved;
    }

    /// <summary>
    /// Runs a copy of a served predict on the shadow version, off the caller's path, and counts whether the two
    /// answers agree. The copy is metered to the mesh, not the caller, and a shadow that is busy or fails costs
    /// the caller nothing.
    /// </summary>
    private async Task ShadowAsync(ModelVersionInfo shadow, ServingPolicy policy, PredictRequest request, PredictResponse primary)
    {
        string outcome;
        try
        {
            var copy = request with { Version = shadow.Version, Caller = ShadowCaller, Priority = PredictPriority.Normal, Deadline = null };
            var answer = await scheduler.PredictAsync(shadow, policy, copy, allowInline: false);
            outcome = OutputComparison.Agree(primary.Outputs, answer.Outputs) ? "agree" : "disagree";
        }
        catch (Exception)
        {
            outcome = "error";
        }
        metrics.ShadowCompared(request.Model, primary.Version, shadow.Version, outcome);
    }

    /// <summary>The caller shadow copies are metered to.</summary>
    public const string ShadowCaller = "mesh-shadow";

    private static void Failed(Activity? activity, Exception e)
    {
        activity?.SetStatus(ActivityStatusCode.Error, e.Message);
        activity?.SetTag(MeshTelemetry.Tags.ErrorType, e.GetType().Name);
    }

    private static PredictRequest[] Unstack(PredictRequest stacked, int[] rows) =>
        TensorStacking.Split(stacked.Inputs, rows, out _)!.Select(inputs => stacked with { Inputs = inputs }).ToArray();

    // Consecutive requests grouped into pieces of at most maxRows rows; a request larger than that is a piece alone.
    private static List<(int Requests, int Rows)> Pieces(int[] rows, int maxRows)
    {
        var pieces = new List<(int Requests, int Rows)>();
        var (requests, sum) = (0, 0);
        foreach (var r in rows)
        {
            if (requests > 0 && sum + r > maxRows)
            {
                pieces.Add((requests, sum));
                (requests, sum) = (0, 0);
            }
            requests++;
            sum += r;
        }
        pieces.Add((requests, sum));
        return pieces;
    }
}
