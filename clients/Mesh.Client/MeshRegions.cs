using System.Diagnostics.Metrics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mesh.Client;

/// <summary>Regions to use, in order of preference (nearest first), and how to fail over between them.</summary>
public sealed class MeshRegionsOptions
{
    public List<MeshRegionEndpoint> Regions { get; set; } = [];
    public string ServiceId { get; set; } = MeshClientOptions.DefaultServiceId;
    public string? ClientId { get; set; }

    /// <summary>The API key every region's client presents (see <see cref="MeshClientOptions.ApiKey"/>).</summary>
    public string? ApiKey { get; set; }

    /// <summary>Mutual TLS for every region's client (see <see cref="MeshClientOptions.Tls"/>).</summary>
    public Security.MeshTlsOptions Tls { get; set; } = new();

    /// <summary>Longest a predict may take in one region before it is tried in the next.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the preferred region may take before the next one is asked too (a hedge); the first answer wins.
    /// Unset: the region's recent p99 latency (at least 2 ms; 100 ms until 20 answers are known).
    /// </summary>
    public TimeSpan? HedgeDelay { get; set; }

    /// <summary>
    /// How often a region that failed is probed in the background. Predicts never wait on a region known to be down;
    /// a probe that succeeds brings it back.
    /// </summary>
    public TimeSpan RecoveryProbeInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Active-passive: management writes go only to the first region. Active-active (default): to the first healthy one.</summary>
    public bool WritesToPrimaryOnly { get; set; }

    /// <summary>
    /// Prefer the region with the lowest measured round trip (the probes') over the configured order, which then
    /// only breaks ties and places regions not measured yet.
    /// </summary>
    public bool PreferLowestLatency { get; set; }

    /// <summary>
    /// Round trips are compared in steps of this size, so regions about as near as each other keep the configured
    /// order instead of trading places with every noisy probe.
    /// </summary>
    public TimeSpan LatencyTolerance { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// How often every region is probed: its round trip is measured and the failovers it took over are reported
    /// to it (what `mesh regions` shows). Zero turns probing off.
    /// </summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>What is wrong with these settings, each naming its option; checked by <see cref="MeshRegions.ConnectAsync"/>.</summary>
    public IEnumerable<string> Validate()
    {
        if (Regions.Count == 0) yield return "Regions: name at least one region";
        for (var i = 0; i < Regions.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(Regions[i].Name)) yield return $"Regions:{i}:Name must name the region (its cluster id)";
            if (Regions[i].Gateways.Count == 0) yield return $"Regions:{i}:Gateways must list at least one host:port";
        }
        if (Regions.Select(r => r.Name).Distinct(StringComparer.Ordinal).Count() != Regions.Count) yield return "Regions names a region twice";
        if (CallTimeout <= TimeSpan.Zero) yield return $"{nameof(CallTimeout)} must be positive (was {CallTimeout})";
        if (HedgeDelay is { } hedge && (hedge <= TimeSpan.Zero || hedge > CallTimeout))
            yield return $"{nameof(HedgeDelay)} must be positive and at most {nameof(CallTimeout)} ({CallTimeout}) (was {hedge})";
        if (RecoveryProbeInterval <= TimeSpan.Zero) yield return $"{nameof(RecoveryProbeInterval)} must be positive (was {RecoveryProbeInterval})";
        if (ProbeInterval < TimeSpan.Zero) yield return $"{nameof(ProbeInterval)} must be zero (off) or positive (was {ProbeInterval})";
    }
}

/// <summary>What the client knows of a region: its smoothed probe round trip (null before the first) and its circuit.</summary>
public sealed record RegionHealth(string Name, double? RoundTripMilliseconds, bool Healthy);

/// <summary>One region: its name (cluster id) and gateways.</summary>
public sealed class MeshRegionEndpoint
{
    public string Name { get; set; } = "";
    public List<string> Gateways { get; set; } = [];
}

/// <summary>A predict's answer and the region that gave it.</summary>
public sealed record RoutedResponse(string Region, PredictResponse Response);

/// <summary>
/// The SDK over several regions: each predict goes to the most preferred region that is up; when that region
/// fails (unreachable, connection lost, overloaded) it goes to the next at once, and when it is slower than its hedge
/// delay the next is asked too and the first answer wins (<see cref="HedgedFailover"/>). A predict is idempotent,
/// so trying it elsewhere is safe, and each region is tried at most once per predict. A region that failed is
/// marked down: predicts skip it, and background probes, not user requests, find when it is back. Errors about
/// the request itself (bad input, unknown model) are not retried.
/// </summary>
public sealed class MeshRegions : IAsyncDisposable
{
    private static readonly Meter Meter = new("Mesh.Client");
    private static readonly Counter<long> FailoverCounter = Meter.CreateCounter<long>("mesh.client.failovers", "{predict}", "Predicts answered by a region other than the most preferred");
    private readonly MeshRegionsOptions _options;
    private readonly Region[] _regions;
    private readonly CancellationTokenSource _stopProbing = new();
    private Task _probing = Task.CompletedTask;
    private Task _recovering = Task.CompletedTask;
    private volatile Region[] _preferred;
    private long _failovers;
    private int _disposed;

    private MeshRegions(MeshRegionsOptions options)
    {
        if (options.Validate().ToArray() is { Length: > 0 } errors) throw new ArgumentException(string.Join("; ", errors), nameof(options));
        _options = options;
        _regions = options.Regions.Select(r => new Region(r, options)).ToArray();
        _preferred = _regions;
    }

    /// <summary>Connects to every region that answers now (the others when next tried) and starts probing them.</summary>
    public static async Task<MeshRegions> ConnectAsync(MeshRegionsOptions options)
    {
        var regions = new MeshRegions(options);
        await Task.WhenAll(regions._regions.Select(r => r.TryConnectAsync()));
        if (options.ProbeInterval > TimeSpan.Zero)
        {
            await regions.ProbeAllAsync();
            regions._probing = regions.ProbeLoopAsync();
        }
        regions._recovering = regions.RecoveryLoopAsync();
        return regions;
    }

    /// <summary>Predicts answered by a region other than the most preferred one.</summary>
    public long Failovers => Interlocked.Read(ref _failovers);

    /// <summary>Each region, in the order predicts try them now.</summary>
    public IReadOnlyList<RegionHealth> Regions => _preferred.Select(r => new RegionHealth(r.Name, r.RoundTripMilliseconds, r.Healthy)).ToArray();

    public async Task<RoutedResponse> PredictAsync(PredictRequest request, CancellationToken cancellation = default)
    {
        var preferred = _preferred;
        // Regions known to be down are not waited on; only when every region is down are they tried, in order.
        var order = preferred.Where(r => r.Healthy).ToArray() is { Length: > 0 } up ? up : preferred;
        var failures = new List<string>();
        try
        {
            var (index, response) = await HedgedFailover.RunAsync(
                Enumerable.Range(0, order.Length).ToArray(),
                (i, token) => order[i].PredictAsync(request, token),
                i => order[i].HedgeDelay,
                IsRegionFailure,
                TimeProvider.System,
                (i, e) =>
                {
                    failures.Add($"{order[i].Name}: {e.Message}");
                    order[i].MarkDown();
                },
                cancellation);
            var region = order[index];
            if (region != preferred[0])
            {
                Interlocked.Increment(ref _failovers);
                region.TookOverFrom(preferred[0].Name);
                FailoverCounter.Add(1, new KeyValuePair<string, object?>("mesh.region", region.Name));
            }
            return new RoutedResponse(region.Name, response);
        }
        catch (AggregateException)
        {
            throw new MeshUnavailableException(failures);
        }
    }

    /// <summary>
    /// The client for management writes and reads: the primary when writes go to the primary only, otherwise the
    /// most preferred region whose circuit is closed.
    /// </summary>
    public async Task<MeshClient> ForWritesAsync()
    {
        if (_options.WritesToPrimaryOnly) return await _regions[0].GetClientAsync();
        foreach (var region in _regions.Where(r => r.Healthy))
        {
            try { return await region.GetClientAsync(); }
            catch (Exception e) when (IsRegionFailure(e)) { }
        }
        return await _regions[0].GetClientAsync();
    }

    // The region failed, not the request: another region may well answer it.
    internal static bool IsRegionFailure(Exception e) =>
        e is OverloadedException or TimeoutException or GatewayConnectionLostException
            or SiloUnavailableException or OrleansException or System.Net.Sockets.SocketException or RegionUnreachableException
        || (e is not MeshException && e is InvalidOperationException);

    // A region that failed is probed often, so it is back in use within RecoveryProbeInterval of recovering.
    private async Task RecoveryLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.RecoveryProbeInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopProbing.Token))
                await Task.WhenAll(_regions.Where(r => !r.Healthy).Select(r => r.ProbeAsync()));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ProbeLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.ProbeInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopProbing.Token)) await ProbeAllAsync();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ProbeAllAsync()
    {
        await Task.WhenAll(_regions.Select(r => r.ProbeAsync()));
        if (!_options.PreferLowestLatency) return;
        _preferred = PreferenceOrder(_regions.Select(r => r.RoundTripMilliseconds).ToArray(), _options.LatencyTolerance).Select(i => _regions[i]).ToArray();
    }

    /// <summary>
    /// The order to try regions in by their measured round trips (null or infinite: not measured, or down):
    /// nearest first in steps of <paramref name="tolerance"/>, so regions within one step of each other, and the
    /// unmeasured ones, keep their configured order. Returns indexes into the configured list.
    /// </summary>
    internal static int[] PreferenceOrder(IReadOnlyList<double?> roundTripMilliseconds, TimeSpan tolerance)
    {
        var step = Math.Max(tolerance.TotalMilliseconds, 0.001);
        return Enumerable.Range(0, roundTripMilliseconds.Count)
            .OrderBy(i => roundTripMilliseconds[i] is { } ms && !double.IsInfinity(ms) ? Math.Floor(ms / step) : double.PositiveInfinity).ThenBy(i => i)
            .ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _stopProbing.Cancel();
        await _probing;
        await _recovering;
        // The failovers counted since the last probe still reach the regions that took them.
        if (_options.ProbeInterval > TimeSpan.Zero) await ProbeAllAsync();
        foreach (var region in _regions) await region.DisposeAsync();
        _stopProbing.Dispose();
    }

    private sealed class Region : IAsyncDisposable
    {
        private readonly MeshRegionEndpoint _endpoint;
        private readonly MeshRegionsOptions _options;
        private readonly SemaphoreSlim _connecting = new(1, 1);
        private IHost? _host;
        private MeshClient? _client;
        private volatile bool _open;

        public Region(MeshRegionEndpoint endpoint, MeshRegionsOptions options) => (_endpoint, _options) = (endpoint, options);

        private readonly LatencyWindow _latencies = new();
        private static readonly TimeSpan InitialHedge = TimeSpan.FromMilliseconds(100);
        private static readonly TimeSpan HedgeFloor = TimeSpan.FromMilliseconds(2);

        /// <summary>How long this region may take before the next is asked too.</summary>
        public TimeSpan HedgeDelay => _options.HedgeDelay ?? HedgedFailover.DelayFrom(_latencies.Snapshot(), InitialHedge, HedgeFloor, _options.CallTimeout);

        /// <summary>One attempt here, bounded by the call timeout; the answer's latency feeds the hedge delay.</summary>
        public async Task<PredictResponse> PredictAsync(PredictRequest request, CancellationToken cancellation)
        {
            var client = await GetClientAsync();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var response = await client.PredictAsync(request).WaitAsync(_options.CallTimeout, cancellation);
            _latencies.Add(watch.Elapsed.TotalMilliseconds);
            return response;
        }

        /// <summary>A region failure: skipped by predicts until a probe succeeds, with a fresh connection then.</summary>
        public void MarkDown()
        {
            if (_open) return;
            _open = true;
            // An Orleans client can stay broken after its cluster restarts (docs/measurements.md); a new one costs tens of ms.
            _ = ResetAsync();
        }

        // Failovers this region took over since they were last reported to it, per region that failed.
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _taken = new(StringComparer.Ordinal);
        private long _roundTripTicks = -1;

        public string Name => _endpoint.Name;
        public bool Healthy => !_open;

        public double? RoundTripMilliseconds
        {
            get
            {
                var ticks = Interlocked.Read(ref _roundTripTicks);
                return ticks < 0 ? null : ticks == long.MaxValue ? double.PositiveInfinity : TimeSpan.FromTicks(ticks).TotalMilliseconds;
            }
        }

        public void TookOverFrom(string failed) => _taken.AddOrUpdate(failed, 1, (_, n) => n + 1);

        /// <summary>One probe: measures the round trip (smoothed) and hands over the failovers counted so far.</summary>
        public async Task ProbeAsync()
        {
            var report = _taken.Where(t => t.Value > 0).Select(t => new Mesh.Abstractions.Grains.FailoverCount(t.Key, t.Value, DateTimeOffset.UtcNow)).ToArray();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                var client = await GetClientAsync();
                await client.ProbeRegionAsync(report).WaitAsync(_options.CallTimeout);
            }
            catch (Exception e) when (IsRegionFailure(e))
            {
                Interlocked.Exchange(ref _roundTripTicks, long.MaxValue);
                MarkDown();
                return;
            }
            _open = false;
            foreach (var sent in report) _taken.AddOrUpdate(sent.From, 0, (_, n) => n - sent.Predicts);
            var last = Interlocked.Read(ref _roundTripTicks);
            var now = watch.Elapsed.Ticks;
            // Smoothed so one slow probe on a busy machine does not reorder the regions.
            Interlocked.Exchange(ref _roundTripTicks, last is < 0 or long.MaxValue ? now : (long)(0.7 * last + 0.3 * now));
        }

        public async Task TryConnectAsync()
        {
            try { await GetClientAsync(); }
            catch (Exception e) when (IsRegionFailure(e)) { }
        }

        public async Task<MeshClient> GetClientAsync()
        {
            if (_client is { } ready) return ready;
            await _connecting.WaitAsync();
            try
            {
                if (_client is { } connected) return connected;
                var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
                builder.AddMeshClient(o =>
                {
                    (o.Gateways, o.ClusterId, o.ServiceId, o.ClientId) = (_endpoint.Gateways, _endpoint.Name, _options.ServiceId, _options.ClientId);
                    o.ConnectTimeout = TimeSpan.FromSeconds(1);
                    // An answer later than a region's call timeout is not waited for anyway.
                    o.ResponseTimeout = _options.CallTimeout;
                    if (o.SettlingAttemptTimeout > o.ResponseTimeout) o.SettlingAttemptTimeout = o.ResponseTimeout;
                    (o.ApiKey, o.Tls) = (_options.ApiKey, _options.Tls);
                });
                var host = builder.Build();
                try
                {
                    await host.StartAsync();
                }
                catch (Exception e)
                {
                    host.Dispose();
                    throw new RegionUnreachableException(_endpoint.Name, e);
                }
                (_host, _client) = (host, host.Services.GetRequiredService<MeshClient>());
                return _client;
            }
            finally
            {
                _connecting.Release();
            }
        }

        // Stopping an Orleans client is CPU-heavy work; done at the moment of the failure it would
        // compete with the predicts failing over (on a 2-core machine it made the slowest of them 15-20 ms slower).
        private static readonly TimeSpan RetiredClientStopDelay = TimeSpan.FromSeconds(1);
        private readonly CancellationTokenSource _disposing = new();
        private Task _retiring = Task.CompletedTask;

        private async Task ResetAsync()
        {
            await _connecting.WaitAsync();
            IHost? old;
            try
            {
                (old, _host, _client) = (_host, null, null);
                if (old is not null) _retiring = Task.WhenAll(_retiring, RetireAsync(old));
            }
            finally
            {
                _connecting.Release();
            }
        }

        private async Task RetireAsync(IHost old)
        {
            try { await Task.Delay(RetiredClientStopDelay, _disposing.Token); }
            catch (OperationCanceledException) { }
            await StopAsync(old);
        }

        private static async Task StopAsync(IHost? host)
        {
            if (host is null) return;
            try { await host.StopAsync(TimeSpan.FromSeconds(1)); } catch (Exception) { }
            host.Dispose();
        }

        public async ValueTask DisposeAsync()
        {
            _disposing.Cancel();
            await _retiring;
            await StopAsync(_host);
            _disposing.Dispose();
        }
    }
}

/// <summary>A region's gateways could not be reached.</summary>
public sealed class RegionUnreachableException(string region, Exception inner)
    : Exception($"region '{region}' could not be reached: {inner.Message}", inner);

/// <summary>No region could answer; each region's failure is listed.</summary>
public sealed class MeshUnavailableException(IReadOnlyList<string> failures)
    : Exception("no region could answer: " + string.Join("; ", failures))
{
    public IReadOnlyList<string> Failures { get; } = failures;
}
