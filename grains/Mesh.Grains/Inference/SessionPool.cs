using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Inference.Validation;
using Mesh.Abstractions.Telemetry;
using Mesh.Grains.Configuration;
using Mesh.Grains.Storage;
using Mesh.Grains.Telemetry;
using Mesh.Inference.Sessions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Inference;

internal static partial class NativeMemory
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    public static void Trim()
    {
        try { MallocTrim(0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }
}

/// <summary>
/// The ONNX Runtime sessions loaded in this silo, one per model version, shared by every inference activation
/// here. The first predict of a version loads it (a cold start: timed, traced, counted); concurrent first
/// predicts wait for that one load. A session with no call in flight and none for the idle timeout is disposed
/// (scale to zero) and the next predict loads it again.
/// </summary>
public sealed class SessionPool(
    IArtifactStore artifacts,
    IOptions<InferenceOptions> options,
    MeshMetrics metrics,
    TimeProvider clock,
    ILogger<SessionPool> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<(string Model, int Version), Entry> _entries = new();

    /// <summary>Raised after a version's session was disposed (idle, unloaded or evicted).</summary>
    public event Action<string, int>? Unloaded;

    /// <summary>Number of sessions loaded now.</summary>
    public int LoadedCount => _entries.Values.Count(e => e.IsLoaded);

    /// <summary>The versions whose sessions are loaded now.</summary>
    public (string Model, int Version)[] Loaded() =>
        _entries.Where(e => e.Value.IsLoaded).Select(e => e.Key).OrderBy(k => k.Model, StringComparer.Ordinal).ThenBy(k => k.Version).ToArray();

    /// <summary>
    /// Gets the version's session, loading it if this silo has none. The policy sets its idle time, whether it is
    /// kept warm (MinWarm) and whether a load runs a warm-up input. Dispose the lease when the run is over.
    /// </summary>
    public async ValueTask<SessionLease> AcquireAsync(ModelVersionInfo version, ServingPolicy? policy = null)
    {
        policy ??= ServingPolicy.Default;
        var key = (version.Model, version.Version);
        while (true)
        {
            var entry = _entries.GetOrAdd(key, _ => new Entry());
            var coldStart = false;
            lock (entry)
            {
                // Evicted between lookup and lock: the sweeper removed it, so take the next entry.
                if (entry.Evicted) continue;
                entry.InFlight++;
                entry.LastUsed = clock.GetTimestamp();
                entry.IdleTimeout = policy.IdleTimeout ?? options.Value.IdleTimeout;
                entry.Pinned = policy.MinWarm > 0;
                if (entry.Loading is null)
                {
                    entry.Loading = LoadSharedAsync(version, policy.WarmupOnLoad);
                    coldStart = true;
                }
            }

            try
            {
                var shared = await entry.Loading;
                // The entry counted this call before the await, so the sweeper has not retired the session.
                if (!shared.TryAcquire()) throw new InvalidOperationException($"the session of {version.Model} version {version.Version} was retired under a counted call");
                return new SessionLease(this, entry, shared, coldStart);
            }
            catch
            {
                Release(entry);
                // A failed load is not cached: the next predict tries again (the artifact may be back).
                lock (entry)
                {
                    if (!entry.Evicted)
                    {
                        entry.Evicted = true;
                        _entries.TryRemove(new KeyValuePair<(string, int), Entry>(key, entry));
                    }
                }
                throw;
            }
        }
    }

    private async Task<SharedSession> LoadSharedAsync(ModelVersionInfo version, bool warmup) => new(await LoadAsync(version, warmup));

    private async Task<OnnxModelSession> LoadAsync(ModelVersionInfo version, bool warmup)
    {
        EvictForCap(version);
        using var activity = MeshMetrics.Source.StartActivity(MeshTelemetry.Spans.SessionLoad);
        activity?.SetTag(MeshTelemetry.Tags.Model, version.Model);
        activity?.SetTag(MeshTelemetry.Tags.Version, version.Version);
        var started = clock.GetTimestamp();

        // Off the caller's turn: reading and compiling a large model takes a while and must not hold a grain.
        var session = await Task.Run(async () =>
        {
            string path;
            try
            {
                path = await artifacts.GetLocalFileAsync(version.ArtifactSha256);
            }
            catch (ArtifactNotFoundException e)
            {
                throw new ModelArtifactUnavailableException(version.Model, version.Version, e.Message);
            }
            var loaded = OnnxModelSession.LoadFile(version.Model, path, options.Value.Session);
            if (warmup) loaded.Run(version.Version, WarmupInput.For(loaded.Signature));
            return loaded;
        });

        var elapsed = clock.GetElapsedTime(started).TotalMilliseconds;
        metrics.ColdStart(version.Model, version.Version, elapsed);
        metrics.SessionLoaded(version.Model, version.Version);
        logger.LogInformation("Loaded {Model} version {Version} in {Milliseconds:F1} ms (cold start)", version.Model, version.Version, elapsed);
        return session;
    }

    private void Release(Entry entry)
    {
        lock (entry)
        {
            entry.InFlight--;
            entry.LastUsed = clock.GetTimestamp();
        }
    }

    /// <summary>Loads the version's session if this silo has none (the repository API's "load", MinWarm).</summary>
    public async Task<bool> WarmAsync(ModelVersionInfo version, ServingPolicy? policy = null)
    {
        using var lease = await AcquireAsync(version, policy);
        return lease.ColdStart;
    }

    /// <summary>Lets a model's sessions go idle again (its MinWarm went to 0).</summary>
    public void Unpin(string model)
    {
        foreach (var (key, entry) in _entries)
        {
            if (key.Model == model) lock (entry) entry.Pinned = false;
        }
    }

    // At the cap, the least recently used sessions with nothing in flight and not kept warm make room.
    private void EvictForCap(ModelVersionInfo loading)
    {
        var cap = options.Value.MaxLoadedSessions;
        if (cap <= 0) return;
        var candidates = _entries
            .Where(e => e.Value.IsLoaded && !e.Value.Pinned && e.Key != (loading.Model, loading.Version))
            .OrderBy(e => e.Value.LastUsed)
            .ToList();
        var excess = LoadedCount + 1 - cap;
        foreach (var (key, _) in candidates)
        {
            if (excess <= 0) break;
            if (Sweep(k => k == key, TimeSpan.Zero, ignorePin: false) > 0)
            {
                excess--;
                logger.LogInformation("Evicted {Model} version {Version}: Mesh:Inference:MaxLoadedSessions is {Cap}", key.Model, key.Version, cap);
            }
        }
        if (excess > 0)
            logger.LogWarning("Loading {Model} version {Version} goes past Mesh:Inference:MaxLoadedSessions ({Cap}): every loaded session is in use or kept warm", loading.Model, loading.Version, cap);
    }

    /// <summary>
    /// Disposes this silo's idle sessions of <paramref name="model"/> (one version, or all), the repository API's
    /// "unload". A session with a call in flight stays; the idle sweep takes it later. Returns how many went.
    /// </summary>
    public int Unload(string model, int? version = null) =>
        Sweep(key => key.Model == model && (version is null || key.Version == version), TimeSpan.Zero, ignorePin: true);

    /// <summary>Disposes every session idle for longer than its idle timeout, except those kept warm; returns how many.</summary>
    public int SweepIdle()
    {
        var swept = Sweep(_ => true, idle: null, ignorePin: false);
        // Scale to zero should give the memory back. ORT frees its native memory on dispose, but the managed
        // buffers a deploy left behind (a 91 MB model arrives as arrays in the gateway and the grain call) sit in
        // the large object heap until a full, compacting collection, and server GC rarely runs one on its own:
        // measured 236 -> 730 -> 365 MiB without this. Unloads are rare, so the pause is affordable here.
        if (swept > 0)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            // ORT's freed native memory stays in glibc's malloc arenas unless trimmed.
            if (OperatingSystem.IsLinux()) NativeMemory.Trim();
        }
        return swept;
    }

    // idle null: each entry's own idle timeout.
    private int Sweep(Func<(string Model, int Version), bool> which, TimeSpan? idle, bool ignorePin)
    {
        var swept = 0;
        foreach (var (key, entry) in _entries)
        {
            if (!which(key)) continue;
            lock (entry)
            {
                if (entry.Evicted || entry.InFlight > 0 || !entry.IsLoaded || (entry.Pinned && !ignorePin)
                    || clock.GetElapsedTime(entry.LastUsed) < (idle ?? entry.IdleTimeout))
                    continue;
                entry.Evicted = true;
                _entries.TryRemove(new KeyValuePair<(string, int), Entry>(key, entry));
                entry.Loading!.Result.Retire();
            }
            metrics.SessionUnloaded(key.Model, key.Version);
            Unloaded?.Invoke(key.Model, key.Version);
            logger.LogInformation("Unloaded {Model} version {Version}", key.Model, key.Version);
            swept++;
        }
        return swept;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.IdleCheckInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                SweepIdle();
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override void Dispose()
    {
        foreach (var (key, entry) in _entries)
        {
            lock (entry)
            {
                entry.Evicted = true;
                if (entry.IsLoaded)
                {
                    entry.Loading!.Result.Retire();
                    metrics.SessionUnloaded(key.Model, key.Version);
                }
            }
        }
        _entries.Clear();
        base.Dispose();
    }

    internal sealed class Entry
    {
        public Task<SharedSession>? Loading;
        public int InFlight;
        public long LastUsed;
        public bool Evicted;
        public bool Pinned;
        public TimeSpan IdleTimeout = TimeSpan.MaxValue;
        public bool IsLoaded => Loading is { IsCompletedSuccessfully: true };
    }

    /// <summary>A session held for one run; the pool will not dispose it until the lease is released.</summary>
    public readonly struct SessionLease : IDisposable
    {
        private readonly SessionPool _pool;
        private readonly Entry _entry;
        private readonly SharedSession _shared;

        internal SessionLease(SessionPool pool, Entry entry, SharedSession shared, bool coldStart)
        {
            _pool = pool;
            _entry = entry;
            _shared = shared;
            ColdStart = coldStart;
        }

        public OnnxModelSession Session => _shared.Session;
        public bool ColdStart { get; }

        public void Dispose()
        {
            _pool.Release(_entry);
            _shared.Release();
        }
    }
}
