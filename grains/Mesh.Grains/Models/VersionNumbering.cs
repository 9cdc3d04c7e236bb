using System.Text;

namespace Mesh.Grains.Models;

/// <summary>
/// Who gives a model's version numbers, so that a number, once given, names one artifact forever in every region:
/// <list type="bullet">
/// <item>the model's home region numbers versions 1, 2, 3...: the first region by name among the model's pinned
/// regions, or among all regions (this one and its peers) for a model that is not pinned;</item>
/// <item>a region that cannot reach the home (a partition) numbers a version provisionally from a range that is its
/// own (1,000,000,000 + 1,000,000 x its bucket + n), so two regions never give the same number;</item>
/// <item>numbers are carried in the registration events and never recomputed; the same artifact registered under
/// two numbers keeps both.</item>
/// </list>
/// </summary>
public static class VersionNumbering
{
    public const int ProvisionalBase = 1_000_000_000;
    public const int Buckets = 1000;
    public const int PerBucket = 1_000_000;

    /// <summary>The region that numbers the model's versions.</summary>
    public static string Home(string self, IEnumerable<string> peers, string[]? pinned) =>
        (pinned is { Length: > 0 } ? pinned : peers.Append(self)).Min(StringComparer.Ordinal)!;

    /// <summary>A region's provisional range: derived from its name alone, so every region computes the same.</summary>
    public static int Bucket(string region)
    {
        // FNV-1a: stable across processes and runtimes, unlike string.GetHashCode.
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(region)) hash = (hash ^ b) * 16777619u;
        return (int)(hash % Buckets);
    }

    public static bool IsProvisional(int number) => number >= ProvisionalBase;

    /// <summary>The <paramref name="sequence"/>-th provisional number of <paramref name="region"/> (from 1).</summary>
    public static int Provisional(string region, int sequence) =>
        sequence is >= 1 and < PerBucket
            ? ProvisionalBase + Bucket(region) * PerBucket + sequence
            : throw new ArgumentOutOfRangeException(nameof(sequence), $"a region numbers at most {PerBucket - 1} versions of a model provisionally");

    /// <summary>Whether <paramref name="number"/> is in <paramref name="region"/>'s provisional range.</summary>
    public static bool IsProvisionalOf(string region, int number) =>
        IsProvisional(number) && (number - ProvisionalBase) / PerBucket == Bucket(region);

    /// <summary>Regions whose provisional ranges would collide; each must be renamed or the mesh refuses to start.</summary>
    public static IEnumerable<(string A, string B)> Collisions(IEnumerable<string> regions)
    {
        var seen = new Dictionary<int, string>();
        foreach (var region in regions.Distinct(StringComparer.Ordinal))
        {
            if (seen.TryGetValue(Bucket(region), out var other)) yield return (other, region);
            else seen[Bucket(region)] = region;
        }
    }
}
