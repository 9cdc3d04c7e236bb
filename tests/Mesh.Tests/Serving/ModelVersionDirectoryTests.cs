using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Mesh.Grains.Inference;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Tests.Serving;

/// <summary>
/// The silo's routing table on a fake clock: a model's state is read once a TTL, not once a predict; a change
/// shows once the TTL has passed; a version newer than the cached table is looked up at once.
/// </summary>
public class ModelVersionDirectoryTests
{
    private readonly FakeTimeProvider _clock = new();
    private readonly List<string> _reads = [];
    private ModelInfo _current = Model(defaultVersion: 1, versions: 2);

    private Exception? _unreachable;

    private ModelVersionDirectory Directory(TimeSpan ttl) =>
        new(model =>
        {
            _reads.Add(model);
            return _unreachable is { } e ? Task.FromException<ModelInfo>(e) : Task.FromResult(_current);
        }, Microsoft.Extensions.Options.Options.Create(new InferenceOptions { VersionCacheTtl = ttl }), _clock);

    [Fact]
    public async Task While_the_model_grain_cannot_be_reached_predicts_keep_the_route_they_had_but_a_mesh_error_is_not_hidden()
    {
        var directory = Directory(TimeSpan.FromSeconds(1));
        Assert.Equal(1, (await directory.ResolveAsync("m", null)).Version.Version);
        _unreachable = new TimeoutException("the silo holding the model grain died");
        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, (await directory.ResolveAsync("m", null)).Version.Version);
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(1, (await directory.ResolveAsync("m", null)).Version.Version);
        Assert.Equal(2, _reads.Count);   // asked again only after a TTL
        // A model never seen here has no route to keep.
        await Assert.ThrowsAsync<TimeoutException>(() => directory.ResolveAsync("other", null).AsTask());
        _unreachable = new ModelNotFoundException("m");
        _clock.Advance(TimeSpan.FromSeconds(2));
        await Assert.ThrowsAsync<ModelNotFoundException>(() => directory.ResolveAsync("m", null).AsTask());
    }

    private static ModelInfo Model(int defaultVersion, int versions, TrafficWeight[]? traffic = null, int? retired = null) =>
        new("m", defaultVersion, Enumerable.Range(1, versions).Select(v =>
            new ModelVersionInfo("m", v, $"sha{v}", 100, new ModelSignature([], []), DateTimeOffset.UnixEpoch, Retired: v == retired)).ToArray(), Traffic: traffic);

    [Fact]
    public async Task Within_the_ttl_predicts_are_routed_from_the_cache_and_a_change_shows_once_it_has_passed()
    {
        var directory = Directory(TimeSpan.FromSeconds(1));
        Assert.Equal(1, (await directory.ResolveAsync("m", null)).Version.Version);
        _current = Model(defaultVersion: 2, versions: 2);

        _clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(1, (await directory.ResolveAsync("m", null)).Version.Version);
        Assert.Single(_reads);

        _clock.Advance(TimeSpan.FromMilliseconds(2));
        Assert.Equal(2, (await directory.ResolveAsync("m", null)).Version.Version);
        Assert.Equal(2, _reads.Count);
    }

    [Fact]
    public async Task A_version_newer_than_the_cached_table_is_looked_up_at_once()
    {
        var directory = Directory(TimeSpan.FromMinutes(1));
        await directory.ResolveAsync("m", null);
        _current = Model(defaultVersion: 1, versions: 3);
        Assert.Equal(3, (await directory.ResolveAsync("m", 3)).Version.Version);
        var missing = await Assert.ThrowsAsync<ModelVersionNotFoundException>(() => directory.ResolveAsync("m", 9).AsTask());
        Assert.Contains("9", missing.Message);
    }

    [Fact]
    public async Task A_retired_version_is_refused_and_a_split_is_marked_as_such()
    {
        _current = Model(defaultVersion: 1, versions: 2, traffic: [new TrafficWeight(1, 50), new TrafficWeight(2, 50)], retired: null);
        var directory = Directory(TimeSpan.FromSeconds(1));
        Assert.True((await directory.ResolveAsync("m", null, routingKey: "k")).BySplit);
        Assert.False((await directory.ResolveAsync("m", 1)).BySplit);

        _current = Model(defaultVersion: 1, versions: 2, retired: 2);
        _clock.Advance(TimeSpan.FromSeconds(2));
        await Assert.ThrowsAsync<ModelVersionRetiredException>(() => directory.ResolveAsync("m", 2).AsTask());
    }
}
