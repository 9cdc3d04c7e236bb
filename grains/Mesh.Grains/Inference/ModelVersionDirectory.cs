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
public sealed class ModelVersionDirectory(IGrainFactory grains, IOptions<InferenceOptions> options, TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, (ModelInfo Info, long Expires)> _models = new(StringComparer.Ordinal);

    /// <summary>The version a predict names (or the default) and the model's policy.</summary>
    public async ValueTask<(ModelVersionInfo Version, ServingPolicy Policy)> ResolveAsync(string model, int? version)
    {
        var (info, fresh) = await GetAsync(model, forceRefresh: false);
        var number = version ?? info.DefaultVersion;
        var chosen = info.FindVersion(number);
        if (chosen is null && !fresh)
        {
            // A version newer than the cached table may just have been deployed.
            (info, _) = await GetAsync(model, forceRefresh: true);
            chosen = info.FindVersion(number);
        }
        return chosen is not null
            ? (chosen, info.ServingPolicy)
            : throw new ModelVersionNotFoundException(model, number, info.Versions.Select(v => v.Version).ToArray());
    }

    private async ValueTask<(ModelInfo Info, bool Fresh)> GetAsync(string model, bool forceRefresh)
    {
        var now = clock.GetTimestamp();
        if (!forceRefresh && _models.TryGetValue(model, out var entry) && now < entry.Expires)
            return (entry.Info, false);
        var info = await grains.GetGrain<IModelGrain>(model).GetAsync();
        var ttl = (long)(options.Value.VersionCacheTtl.TotalSeconds * clock.TimestampFrequency);
        _models[model] = (info, now + ttl);
        return (info, true);
    }
}
