using System.Collections.Concurrent;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Inference;

/// <summary>
/// The silo's routing table: which version answers a predict. Versions never change once registered, so
/// they are cached for good; the default version is cached for <see cref="InferenceOptions.VersionCacheTtl"/>.
/// This is what keeps the model grain off the hot path: it is asked about once a TTL per model per silo,
/// not once a predict.
/// </summary>
public sealed class ModelVersionDirectory(IGrainFactory grains, IOptions<InferenceOptions> options, TimeProvider clock)
{
    private readonly ConcurrentDictionary<(string Model, int Version), ModelVersionInfo> _versions = new();
    private readonly ConcurrentDictionary<string, (int Version, long Expires)> _defaults = new(StringComparer.Ordinal);

    public async ValueTask<ModelVersionInfo> ResolveAsync(string model, int? version)
    {
        if (version is int requested)
        {
            if (_versions.TryGetValue((model, requested), out var cached))
                return cached;
            var info = await grains.GetGrain<IModelGrain>(model).GetVersionAsync(requested);
            return _versions[(model, requested)] = info;
        }

        var now = clock.GetTimestamp();
        if (_defaults.TryGetValue(model, out var entry) && now < entry.Expires && _versions.TryGetValue((model, entry.Version), out var current))
            return current;

        var modelInfo = await grains.GetGrain<IModelGrain>(model).GetAsync();
        foreach (var v in modelInfo.Versions)
            _versions[(model, v.Version)] = v;
        var ttl = (long)(options.Value.VersionCacheTtl.TotalSeconds * clock.TimestampFrequency);
        _defaults[model] = (modelInfo.DefaultVersion, now + ttl);
        return _versions[(model, modelInfo.DefaultVersion)];
    }
}
