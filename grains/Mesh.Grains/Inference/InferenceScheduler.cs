using System.Collections.Concurrent;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Mesh.Grains.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Inference;

/// <summary>
/// The silo's batchers, one per model version, made on the version's first predict here and dropped when the
/// version's session unloads with nothing queued or running (a scaled-to-zero version keeps no loop behind).
/// </summary>
public sealed class InferenceScheduler
{
    private readonly ConcurrentDictionary<(string, int), VersionBatcher> _batchers = new();
    private readonly SessionPool _sessions;
    private readonly MeshMetrics _metrics;
    private readonly UsageMeter _usage;
    private readonly IOptions<InferenceOptions> _options;
    private readonly TimeProvider _clock;
    private readonly string _silo;
    private readonly ILogger<InferenceScheduler> _logger;

    public InferenceScheduler(SessionPool sessions, MeshMetrics metrics, UsageMeter usage, IOptions<InferenceOptions> options, TimeProvider clock,
        ILocalSiloDetails silo, ILogger<InferenceScheduler> logger)
    {
        (_sessions, _metrics, _usage, _options, _clock, _silo, _logger) = (sessions, metrics, usage, options, clock, silo.SiloAddress.ToString(), logger);
        sessions.Unloaded += (model, version) =>
        {
            if (_batchers.TryGetValue((model, version), out var batcher) && batcher.TryRetire())
                _batchers.TryRemove(new KeyValuePair<(string, int), VersionBatcher>((model, version), batcher));
        };
    }

    /// <summary>Whether this silo holds a batcher for the version now.</summary>
    public bool HasBatcher(string model, int version) => _batchers.ContainsKey((model, version));

    public Task<PredictResponse> PredictAsync(ModelVersionInfo version, ServingPolicy policy, PredictRequest request, bool allowInline = true, int requests = 1)
    {
        while (true)
        {
            var key = (version.Model, version.Version);
            var batcher = _batchers.GetOrAdd(key, _ => new VersionBatcher(version, _options.Value.Runners, _sessions, _metrics, _usage, _clock, _logger, _silo));
            if (batcher.TrySubmit(request, policy, allowInline, requests) is { } answer) return answer;
            // Retired between the lookup and the submit: the next lookup makes a fresh one.
            _batchers.TryRemove(new KeyValuePair<(string, int), VersionBatcher>(key, batcher));
        }
    }
}
