namespace Mesh.SampleModels;

/// <summary>
/// xorshift64*: the same seed gives the same numbers on every platform and .NET version, which
/// System.Random does not promise across versions.
/// </summary>
public sealed class DeterministicRandom(int seed)
{
    private ulong _state = (ulong)seed * 0x9E3779B97F4A7C15UL + 1;

    public ulong NextUInt64()
    {
        _state ^= _state >> 12;
        _state ^= _state << 25;
        _state ^= _state >> 27;
        return _state * 0x2545F4914F6CDD1DUL;
    }

    /// <summary>A float in [-scale, scale).</summary>
    public float NextFloat(float scale) => (float)((NextUInt64() >> 40) / (double)(1UL << 24) * 2.0 - 1.0) * scale;

    public float[] Floats(int count, float scale)
    {
        var values = new float[count];
        for (var i = 0; i < count; i++) values[i] = NextFloat(scale);
        return values;
    }
}
