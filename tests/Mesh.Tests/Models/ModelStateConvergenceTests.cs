using Mesh.Abstractions.Events;
using Mesh.Abstractions.Models;
using Mesh.Grains.Models;

namespace Mesh.Tests.Models;

/// <summary>
/// Two regions write to one model at once; each ends up with both regions' events, in some order that keeps each
/// region's own order. Every such order must fold to the same model.
/// </summary>
public class ModelStateConvergenceTests
{
    private const string Model = "m";
    private static readonly ModelSignature Signature = new([], []);
    private static readonly string X = new('a', 64), Y = new('b', 64), Z = new('c', 64);

    private static (ModelEvent Event, EventStamp Stamp) At(long hlc, string region, ModelEvent e) => (e, new EventStamp(hlc, region));

    private static ModelVersionRegistered Registered(string sha, bool makeDefault, string? parent = null) =>
        new(0, sha, 10, Signature, DateTimeOffset.UnixEpoch, parent is null ? ModelLineage.None : new ModelLineage(Notes: "derived"), makeDefault, parent);

    private static ModelVersionRegistered Numbered(int number, string sha, bool makeDefault) =>
        new(number, sha, 10, Signature, DateTimeOffset.UnixEpoch, ModelLineage.None, makeDefault, null);

    // Every merge of the two sequences that keeps each one's order.
    private static IEnumerable<List<T>> Interleavings<T>(IReadOnlyList<T> a, IReadOnlyList<T> b)
    {
        if (a.Count == 0) { yield return b.ToList(); yield break; }
        if (b.Count == 0) { yield return a.ToList(); yield break; }
        foreach (var rest in Interleavings(a.Skip(1).ToList(), b)) yield return [a[0], .. rest];
        foreach (var rest in Interleavings(a, b.Skip(1).ToList())) yield return [b[0], .. rest];
    }

    private static ModelInfo Fold(IEnumerable<(ModelEvent Event, EventStamp Stamp)> events)
    {
        var state = new ModelState();
        foreach (var (e, stamp) in events) state.Apply(e, Model, stamp);
        return state.ToInfo(Model);
    }

    private static string Json(ModelInfo info) => EventCodec.Serialize(info);

    [Fact]
    public void Concurrent_registrations_splits_and_policies_fold_the_same_in_every_order()
    {
        var a = new[]
        {
            At(10, "A", Registered(X, makeDefault: true)),
            At(20, "A", new ModelTrafficSplitSet([new(1, 90), new(2, 10)], [X, Z], X)),
            At(30, "A", new ModelPolicyChanged(new ServingPolicy(MaxBatchSize: 8))),
            At(31, "A", new ModelShadowSet(2, Z)),
        };
        var b = new[]
        {
            At(11, "B", Registered(Y, makeDefault: false)),
            At(12, "B", Registered(Z, makeDefault: false, parent: Y)),
            At(21, "B", new ModelTrafficSplitSet([new(1, 50), new(2, 50)], [X, Y], X)),
            At(25, "B", new ModelPolicyChanged(new ServingPolicy(MaxBatchSize: 4))),
        };

        var folds = Interleavings(a, b).Select(order => Json(Fold(order))).Distinct().ToList();

        var info = Fold(a.Concat(b).OrderBy(e => e.Stamp.Hlc));
        Assert.Equal([Json(info)], folds);
        // Numbers follow registration stamps: X (10, A), Y (11, B), Z (12, B).
        Assert.Equal([X, Y, Z], info.Versions.Select(v => v.ArtifactSha256));
        Assert.Equal(2, info.FindVersion(3)!.Lineage!.ParentVersion);
        // The split written later (21, B) wins over (20, A); the policy written later (30, A) wins over (25, B).
        Assert.Equal([new TrafficWeight(1, 50), new TrafficWeight(2, 50)], info.Traffic!);
        Assert.Equal(8, info.ServingPolicy.MaxBatchSize);
        Assert.Equal(3, info.ShadowVersion);
    }

    [Fact]
    public void The_same_bytes_registered_in_two_regions_are_one_version_and_equal_stamps_break_by_region()
    {
        var a = new[] { At(10, "A", Registered(X, makeDefault: true)), At(40, "A", new ModelVersionPromoted(1, X)) };
        var b = new[] { At(10, "B", Registered(X, makeDefault: true)), At(11, "B", Registered(Y, makeDefault: false)), At(40, "B", new ModelVersionPromoted(2, Y)) };

        var folds = Interleavings(a, b).Select(order => Json(Fold(order))).Distinct().ToList();

        var info = Fold(a.Concat(b));
        Assert.Equal([Json(info)], folds);
        Assert.Equal([X, Y], info.Versions.Select(v => v.ArtifactSha256));
        Assert.Equal(2, info.DefaultVersion);   // same clock 40: region B sorts after A, so B's promote wins
    }

    [Fact]
    public void Numbers_given_during_a_partition_keep_their_artifacts_in_every_order()
    {
        var westProvisional = VersionNumbering.Provisional("west", 1);
        // East is home and numbers 1 and 2; west, cut off, numbers its own version provisionally and splits onto it.
        var east = new[] { At(10, "east", Numbered(1, X, true)), At(30, "east", Numbered(2, Y, false)) };
        var west = new[]
        {
            At(31, "west", Numbered(westProvisional, Z, false)),
            At(32, "west", new ModelTrafficSplitSet([new(1, 50), new(westProvisional, 50)], [X, Z], X)),
        };
        // West saw 1 before the cut; everything it had said before the heal must still hold after it.
        var folds = Interleavings(east, west).Select(order => Fold(order)).ToList();
        Assert.Single(folds.Select(Json).Distinct());
        var info = folds[0];
        Assert.Equal([(1, X), (2, Y), (westProvisional, Z)], info.Versions.Select(v => (v.Version, v.ArtifactSha256)));
        Assert.Equal([new TrafficWeight(1, 50), new TrafficWeight(westProvisional, 50)], info.Traffic!);
    }

    [Fact]
    public void Old_streams_with_two_artifacts_under_one_number_give_the_later_the_next_number_in_every_order()
    {
        var a = new[] { At(10, "A", Numbered(1, X, true)), At(20, "A", Numbered(2, Y, false)) };
        var b = new[] { At(21, "B", Numbered(2, Z, false)) };
        var folds = Interleavings(a, b).Select(order => Json(Fold(order))).Distinct().ToList();
        Assert.Single(folds);
        Assert.Equal([(1, X), (2, Y), (3, Z)], Fold(a.Concat(b)).Versions.Select(v => (v.Version, v.ArtifactSha256)));
    }

    [Fact]
    public void The_home_is_the_first_region_by_name_and_provisional_ranges_are_each_regions_own()
    {
        Assert.Equal("east", VersionNumbering.Home("west", ["east", "north"], null));
        Assert.Equal("west", VersionNumbering.Home("west", [], null));
        Assert.Equal("north", VersionNumbering.Home("west", ["east"], ["west", "north"]));
        var regions = new[] { "local", "east", "west", "north", "south", "eu", "us", "asia" };
        Assert.Empty(VersionNumbering.Collisions(regions));
        var ranges = regions.Select(r => VersionNumbering.Provisional(r, 1)).ToArray();
        Assert.Equal(regions.Length, ranges.Distinct().Count());
        Assert.All(regions, r => Assert.True(VersionNumbering.IsProvisionalOf(r, VersionNumbering.Provisional(r, 999_999))));
        Assert.False(VersionNumbering.IsProvisionalOf("east", VersionNumbering.Provisional("west", 1)));
        var twins = Enumerable.Range(0, 5000).Select(i => $"r{i}").ToArray();
        Assert.NotEmpty(VersionNumbering.Collisions(twins));   // 5,000 names cannot fit 1,000 ranges
    }

    [Fact]
    public void Retirement_commutes_and_rollback_history_is_ordered_by_stamp()
    {
        var a = new[] { At(10, "A", Registered(X, true)), At(20, "A", Registered(Y, true)), At(50, "A", new ModelVersionRetired(1, X)) };
        var b = new[] { At(30, "B", Registered(Z, true)), At(40, "B", new ModelRolledBack(3, 2, Z, Y)) };

        var folds = Interleavings(a, b).Select(order => Json(Fold(order))).Distinct().ToList();

        var state = new ModelState();
        foreach (var (e, stamp) in a.Concat(b)) state.Apply(e, Model, stamp);
        Assert.Single(folds);
        Assert.Equal(2, state.ToInfo(Model).DefaultVersion);
        Assert.True(state.ToInfo(Model).FindVersion(1)!.Retired);
        // Z was rolled back from, X is retired: nothing had all traffic before Y that a rollback may return to.
        Assert.Null(state.RollbackTarget());
    }
}
