using System.Diagnostics.Metrics;
using System.Net;
using System.Security.Cryptography;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Mesh.Grains.Inference;
using Mesh.Grains.Storage;
using Mesh.Grains.Telemetry;
using Mesh.Inference.Sessions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orleans.Runtime;

namespace Mesh.Tests.Serving;

/// <summary>
/// Scale to zero on a fake clock: the silo's session pool loads a version on first use and lets it go only when
/// it has been idle past its timeout, never with a call in flight, and not while the model asks to be kept warm.
/// </summary>
public sealed class SessionPoolTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mesh-tests", "pool-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new();
    private readonly SessionPool _pool;
    private readonly ModelVersionInfo _version;
    private static readonly ServingPolicy FiveMinutes = ServingPolicy.Default with { IdleTimeout = TimeSpan.FromMinutes(5) };

    public SessionPoolTests()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "models", "mlp-small.onnx"));
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var store = new FileArtifactStore(Microsoft.Extensions.Options.Options.Create(new StorageOptions { DataDirectory = _data }));
        store.PutAsync(sha, bytes).GetAwaiter().GetResult();
        var options = new InferenceOptions();
        using (var session = OnnxModelSession.Load("mlp", bytes, options.Session))
            _version = new ModelVersionInfo("mlp", 1, sha, bytes.Length, session.Signature, _clock.GetUtcNow());
        var metrics = new MeshMetrics(new PlainMeterFactory(), new TestSilo(), new TrafficStats(), new InferenceStatistics(_clock));
        _pool = new SessionPool(store, Microsoft.Extensions.Options.Options.Create(options), metrics, _clock, NullLogger<SessionPool>.Instance);
    }

    [Fact]
    public async Task An_idle_session_is_unloaded_only_once_its_idle_timeout_has_passed_on_the_clock()
    {
        using (var lease = await _pool.AcquireAsync(_version, FiveMinutes)) Assert.True(lease.ColdStart);
        using (var lease = await _pool.AcquireAsync(_version, FiveMinutes)) Assert.False(lease.ColdStart);

        _clock.Advance(TimeSpan.FromMinutes(4.9));
        Assert.Equal(0, _pool.SweepIdle());
        Assert.Equal(1, _pool.LoadedCount);

        _clock.Advance(TimeSpan.FromMinutes(0.2));
        Assert.Equal(1, _pool.SweepIdle());
        Assert.Equal(0, _pool.LoadedCount);
        using (var lease = await _pool.AcquireAsync(_version, FiveMinutes)) Assert.True(lease.ColdStart);
    }

    [Fact]
    public async Task Every_use_starts_the_idle_time_again()
    {
        using (await _pool.AcquireAsync(_version, FiveMinutes)) { }
        _clock.Advance(TimeSpan.FromMinutes(4));
        using (await _pool.AcquireAsync(_version, FiveMinutes)) { }
        _clock.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(0, _pool.SweepIdle());
        _clock.Advance(TimeSpan.FromMinutes(1.5));
        Assert.Equal(1, _pool.SweepIdle());
    }

    [Fact]
    public async Task A_session_with_a_call_in_flight_is_never_swept()
    {
        var lease = await _pool.AcquireAsync(_version, FiveMinutes);
        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(0, _pool.SweepIdle());
        Assert.Equal(0, _pool.Unload("mlp"));
        lease.Dispose();
        // Released just now: idle for no time yet, but an unload takes it at once.
        Assert.Equal(0, _pool.SweepIdle());
        Assert.Equal(1, _pool.Unload("mlp"));
    }

    [Fact]
    public async Task Min_warm_keeps_a_session_past_its_idle_timeout_until_the_model_is_unpinned()
    {
        using (await _pool.AcquireAsync(_version, FiveMinutes with { MinWarm = 1 })) { }
        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(0, _pool.SweepIdle());
        _pool.Unpin("mlp");
        Assert.Equal(1, _pool.SweepIdle());
    }

    public void Dispose()
    {
        _pool.Dispose();
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }

    private sealed class PlainMeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);
        public void Dispose() { }
    }

    private sealed class TestSilo : ILocalSiloDetails
    {
        public string Name => "test";
        public string ClusterId => "test";
        public string DnsHostName => "localhost";
        public SiloAddress SiloAddress { get; } = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111), 1);
        public SiloAddress GatewayAddress => SiloAddress;
    }
}
