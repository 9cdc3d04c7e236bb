using System.Collections.Concurrent;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Mesh.Grains.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Inference;

/// <summary>The silo's batchers, one per model version, made on the version's first predict here.</summary>
public sealed class InferenceScheduler(
    SessionPool sessions,
    MeshMetrics metrics,
    UsageMeter usage,
    IOptions<InferenceOptions> options,
    TimeProvider clock,
    ILocalSiloDetails silo,
    ILogger<InferenceScheduler> logger)
{
    private readonly ConcurrentDictionary<(string, int), VersionBatcher> _batchers = new();

    public Task<PredictResponse> PredictAsync(ModelVersionInfo version, ServingPolicy policy, PredictRequest request, bool allowInline = true, int requests = 1) =>
        _batchers.GetOrAdd((version.Model, version.Version), _ =>
                new VersionBatcher(version, options.Value.Runners, sessions, metrics, usage, clock, logger, silo.SiloAddress.ToString()))
            .SubmitAsync(request, policy, allowInline, requests);
}
