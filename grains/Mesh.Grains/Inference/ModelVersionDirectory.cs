using System.Collections.Concurrent;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Inference;

/// <summary>
/// The silo's routing table: for each model, its versions, default version and serving policy, cached for
/// <see cref="InferenceOptions.VersionCacheTtl"/>. This keeps the model grain off the hot path: it is asked about
/// once a TTL per model per silo, not once a predict, and a changed default or policy reaches every silo within
/// that time.
/// </summary>
/// <summary>
/// A resolved predict: the version that serves it, the model's policy, the version that gets a shadow copy (or
/// null), and whether the version was picked by a traffic split (so requests stacked together may not share it).
/// </summary>
public sealed record Route(ModelVersionInfo Version, ServingPolicy Policy, ModelVersionInfo? Shadow, bool BySplit);

public sealed class ModelVersionDirectory
{
    private readonly ConcurrentDictionary<string, (ModelInfo Info, long Expires)> _models = new(StringComparer.Ordinal);
    private readonly Func<string, Task<ModelInfo>> _fetch;
    private readonly IOptions<InferenceOptions> _options;
    private readonly TimeProvider _clock;

    public ModelVersionDirectory(IGrainFactory grains, IOptions<InferenceOptions> options, TimeProvider clock)
        : this(model => grains.GetGrain<IModelGrain>(model).GetAsync(), options, clock)
    {
    }

    /// <param name="fetch">Reads a model's current state (the model grain's, in a silo).</param>
    internal ModelVersionDirectory(Func<string, Task<ModelInfo>> fetch, IOptions<InferenceOptions> options, TimeProvider clock) =>
        (_fetch, _options, _clock) = (fetch, options, clock);

    /// <summary>
    /// Where a predict goes: the version it names, or else the version the model's traffic split picks (by
    /// <paramref name="routingKey"/> when given); with the model's policy and its shadow version, if any.
    /// </summary>
    public async ValueTask<Route> ResolveAsync(string model, int? version, string? routingKey = null)
    {
        var (info, fresh) = await GetAsync(model, forceRefresh: false);
        if (info.Unloaded) throw new ModelUnloadedException(model);
        var number = version ?? info.RouteVersion(routingKey);
        var chosen = info.FindVersion(number);
        if (chosen is null && !fresh)
        {
            // A version newer than the cached table may just have been deployed.
            (info, _) = await GetAsync(model, forceRefresh: true);
            chosen = info.FindVersion(number);
        }
        if (chosen is null)
            throw new ModelVersionNotFoundException(model, number, info.Versions.Select(v => v.Version).ToArray());
        if (chosen.Retired)
            throw new ModelVersionRetiredException(model, number);
        var shadow = info.ShadowVersion is int s && s != chosen.Version ? info.FindVersion(s) : null;
        return new Route(chosen, info.ServingPolicy, shadow, version is null && info.IsSplit);
    }

    /// <summary>
    /// A model and the version a call names (or its default), from the table: what metadata, readiness and
    /// configuration calls read, without a grain call per request. A version newer than the table is looked up at once.
    /// </summary>
    public async ValueTask<(ModelInfo Model, ModelVersionInfo Version)> DescribeAsync(string model, int? version)
    {
        var (info, fresh) = await GetAsync(model, forceRefresh: false);
        var chosen = info.FindVersion(version ?? info.DefaultVersion);
        if (chosen is null && !fresh)
        {
            (info, _) = await GetAsync(model, forceRefresh: true);
            chosen = info.FindVersion(version ?? info.DefaultVersion);
        }
        var number = version ?? info.DefaultVersion;
        return (info, chosen ?? throw new ModelVersionNotFoundException(model, number, info.Versions.Select(v => v.Version).ToArray()));
    }

    /// <summary>Drops a model from the table, so the next predict reads its state (after this silo changed it).</summary>
    public void Forget(string model) => _models.TryRemove(model, out _);

    private async ValueTask<(ModelInfo Info, bool Fresh)> GetAsync(string model, bool forceRefresh)
    {
        var now = _clock.GetTimestamp();
        var ttl = (long)(_options.Value.VersionCacheTtl.TotalSeconds * _clock.TimestampFrequency);
        if (!forceRefresh && _models.TryGetValue(model, out var entry) && now < entry.Expires)
            return (entry.Info, false);
        ModelInfo info;
        try
        {
            info = await _fetch(model);
        }
        catch (Exception e) when (e is not MeshException && _models.TryGetValue(model, out var stale))
        {
            // The model grain cannot be reached (its silo just died and the cluster has not yet moved it): predicts
            // keep the route they had rather than fail until membership catches up; it is asked again after a TTL.
            _models[model] = (stale.Info, now + ttl);
            return (stale.Info, false);
        }
        _models[model] = (info, now + ttl);
        return (info, true);
    }
}
