using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;

namespace Mesh.Client;

/// <summary>
/// The mesh as a caller sees it: deploy models, list them, read their signatures, and predict. Errors arrive as
/// the typed exceptions of <c>Mesh.Abstractions.Errors</c> (ModelNotFoundException, InputDimensionException, ...).
/// Thread-safe; one instance serves a whole application.
/// </summary>
public sealed class MeshClient(IClusterClient cluster, string? clientId = null, GatewayConnectionWatch? gateways = null)
{
    // Enough concurrent calls per model to keep every silo of a small cluster busy; beyond them predicts coalesce.
    private const int MaxCallsInFlightPerModel = 8;
    private const int MaxPredictsPerCall = 256;
    private int _lane;
    private int _coalescersLostAt;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, PredictCoalescer> _coalescers = new(StringComparer.Ordinal);
    private readonly SuspectLanes _suspectLanes = new();

    /// <summary>
    /// Registers an ONNX file as the next version of <paramref name="model"/>; with <paramref name="makeDefault"/>
    /// it takes all traffic. <paramref name="lineage"/> records where it came from; <paramref name="regions"/> pins a
    /// new model to those regions (data residency).
    /// </summary>
    public async Task<ModelVersionInfo> DeployAsync(string model, byte[] onnx, bool makeDefault = true, ModelLineage? lineage = null, string[]? regions = null)
    {
        var version = await Model(model).DeployAsync(onnx, makeDefault, lineage, regions);
        // A region that is not the model's home has the version numbered there; it arrives here by replication,
        // so wait (bounded) for it, and a caller can predict on it as soon as this returns.
        for (var waited = 0; waited < 50; waited++)
        {
            try
            {
                await Model(model).GetVersionAsync(version.Version);
                break;
            }
            catch (MeshNotFoundException)
            {
                await Task.Delay(100);
            }
        }
        return version;
    }

    /// <summary>Reads an ONNX file from disk and registers it as the next version of <paramref name="model"/>.</summary>
    public async Task<ModelVersionInfo> DeployFileAsync(string model, string path, bool makeDefault = true, ModelLineage? lineage = null, string[]? regions = null, CancellationToken cancellation = default) =>
        await DeployAsync(model, await File.ReadAllBytesAsync(path, cancellation), makeDefault, lineage, regions);

    /// <summary>
    /// Runs a predict; it is metered to <c>request.Caller</c>, or to this client's id. Concurrent predicts for one
    /// model are coalesced into fewer messages under load (see <see cref="PredictCoalescer"/>).
    /// </summary>
    /// <remarks>
    /// Orleans leaves a call whose gateway connection closed waiting for its response timeout. A predict does not
    /// wait: when a gateway connection is lost it is sent again (twice at most) over the connections left, and without any
    /// it fails with <see cref="GatewayConnectionLostException"/> at once, which <see cref="MeshRegions"/> takes to
    /// the next region. For <see cref="MeshClientOptions.GatewayLossSettleTime"/> after a loss, an attempt without an
    /// answer after <see cref="MeshClientOptions.SettlingAttemptTimeout"/> is sent again too: until membership
    /// declares the dead silo dead, the survivors may still route a call to it.
    /// </remarks>
    public async Task<PredictResponse> PredictAsync(PredictRequest request)
    {
        ModelName.Validate(request.Model);
        for (var attempt = 0; ; attempt++)
        {
            var lost = gateways?.Lost ?? CancellationToken.None;
            var bound = gateways?.AttemptTimeout ?? Timeout.InfiniteTimeSpan;
            var coalescer = Coalescer(request.Model);
            try
            {
                return await PredictOnceAsync(coalescer, request).WaitAsync(bound, lost);
            }
            catch (OperationCanceledException) when (lost.IsCancellationRequested)
            {
                // The coalescers still count the lost calls as in flight until Orleans times them out; new ones
                // would queue behind them, so predicts start over with fresh coalescers.
                if (Interlocked.Exchange(ref _coalescersLostAt, lost.GetHashCode()) != lost.GetHashCode()) _coalescers.Clear();
                if (attempt >= 2 || gateways!.Connected == 0) throw new GatewayConnectionLostException();
            }
            catch (TimeoutException) when (bound != Timeout.InfiniteTimeSpan && attempt < 2)
            {
                // Settling after a lost gateway: this call was likely routed to the dead silo, where it would wait the
                // whole response timeout. It goes again, and the coalescer that counts it as in flight is dropped.
                // The lanes that have kept calls waiting as long are avoided until the cluster has settled.
                _coalescers.TryRemove(KeyValuePair.Create(request.Model, coalescer));
                foreach (var lane in coalescer.LanesWaitingLongerThan(bound))
                    _suspectLanes.Mark(lane.GetPrimaryKeyString(), gateways!.SettlingLeft);
            }
            catch (OrleansMessageRejectionException) when (attempt < 2 && gateways is { Connected: > 0 })
            {
                // Sent to a gateway the client had not yet given up on: it has now, and another one takes it.
            }
        }
    }

    private PredictCoalescer Coalescer(string model) =>
        _coalescers.GetOrAdd(model, m => new PredictCoalescer(() => Lane(m), MaxCallsInFlightPerModel, MaxPredictsPerCall));

    private Task<PredictResponse> PredictOnceAsync(PredictCoalescer coalescer, PredictRequest request)
    {
        if (request.Caller is null && clientId is not null) request = request with { Caller = clientId };
        return coalescer.PredictAsync(request);
    }

    private IInferenceGrain Lane(string model)
    {
        var key = InferenceLanes.Key(model, NextLane());
        // Only while settling are lanes suspect; if every lane is, the last one tried takes the call.
        for (var tried = 1; tried < InferenceLanes.Default && _suspectLanes.IsSuspect(key); tried++)
            key = InferenceLanes.Key(model, NextLane());
        return cluster.GetGrain<IInferenceGrain>(key);
    }

    private int NextLane() => (int)((uint)Interlocked.Increment(ref _lane) % InferenceLanes.Default);

    /// <summary>Predicts with the model's default version and returns every output.</summary>
    public Task<PredictResponse> PredictAsync(string model, params NamedTensor[] inputs) =>
        PredictAsync(new PredictRequest(model, inputs));

    /// <summary>Every deployed model, from the catalog read model (caught up with the feed before it answers).</summary>
    public Task<ModelInfo[]> ListModelsAsync() => cluster.GetGrain<ICatalogProjectionGrain>(EventFeed.Key).ListAsync();

    public Task<ModelInfo> GetModelAsync(string model) => Model(model).GetAsync();

    /// <summary>One version with its signature.</summary>
    public Task<ModelVersionInfo> GetVersionAsync(string model, int version) =>
        Model(model).GetVersionAsync(version);

    /// <summary>Gives <paramref name="version"/> all traffic: it answers every predict that names no version.</summary>
    public Task<ModelInfo> PromoteAsync(string model, int version) => Model(model).PromoteAsync(version);

    /// <summary>Splits traffic across versions by percent (a canary), e.g. (2, 10), (1, 90).</summary>
    public Task<ModelInfo> SetTrafficAsync(string model, params TrafficWeight[] weights) => Model(model).SetTrafficAsync(weights);

    /// <summary>Copies every predict to <paramref name="version"/> and compares its answer (null: stop).</summary>
    public Task<ModelInfo> SetShadowAsync(string model, int? version) => Model(model).SetShadowAsync(version);

    /// <summary>Gives all traffic back to the last version that had all of it.</summary>
    public Task<ModelInfo> RollbackAsync(string model) => Model(model).RollbackAsync();

    /// <summary>Retires a version: it refuses predicts from then on.</summary>
    public Task<ModelInfo> RetireAsync(string model, int version) => Model(model).RetireAsync(version);

    public Task<ModelInfo> SetPolicyAsync(string model, ServingPolicy policy) => Model(model).SetPolicyAsync(policy);

    /// <summary>Unloads a model (false: it refuses predicts everywhere until loaded) or loads it again (true).</summary>
    public Task<ModelInfo> SetServingAsync(string model, bool serving) => Model(model).SetServingAsync(serving);

    /// <summary>Sets the input distribution devices are compared with (build it with <see cref="FeatureStatisticsBuilder"/>).</summary>
    public Task SetDriftBaselineAsync(string model, DriftBaseline baseline) => Model(model).SetDriftBaselineAsync(baseline);

    public Task<DriftBaseline?> GetDriftBaselineAsync(string model) => Model(model).GetDriftBaselineAsync();

    /// <summary>How one device's inputs for the model compare with the model's baseline.</summary>
    public Task<DriftReport> GetDeviceDriftAsync(string device, string model) => Device(device).GetDriftAsync(model);

    /// <summary>Registers an edge device (or updates its registration).</summary>
    public Task<DeviceInfo> RegisterDeviceAsync(string device, DeviceRegistration registration) => Device(device).RegisterAsync(registration);

    public Task<DeviceInfo> GetDeviceAsync(string device) => Device(device).GetAsync();

    /// <summary>Sets desired properties of a device's twin (null removes one).</summary>
    public Task<DeviceInfo> SetDeviceDesiredAsync(string device, Dictionary<string, string?> properties) => Device(device).SetDesiredAsync(properties);

    /// <summary>Reports properties of a device's twin, as the device does (null removes one).</summary>
    public Task<DeviceInfo> ReportDeviceAsync(string device, Dictionary<string, string?> properties) => Device(device).ReportAsync(properties);

    /// <summary>Sets the version of a model the device should run (its profile may pick an optimized variant of it); returns the version chosen.</summary>
    public Task<ModelVersionInfo> AssignDeviceModelAsync(string device, string model, int version) => Device(device).AssignAsync(model, version);

    /// <summary>Issues the device a new sync token (the previous one stops working).</summary>
    public Task<string> IssueDeviceTokenAsync(string device) => Device(device).IssueTokenAsync();

    /// <summary>The device, if the token hash is its current one (what the gateway checks before serving it a model).</summary>
    public Task<DeviceInfo> AuthenticateDeviceAsync(string device, string tokenSha256) => Device(device).AuthenticateAsync(tokenSha256);

    /// <summary>Applies a batch of a device's results (what the gateway's sync endpoint does with an edge bridge's).</summary>
    public Task<DeviceSyncAck> SyncDeviceAsync(string device, string tokenSha256, DeviceSyncBatch batch) => Device(device).SyncAsync(tokenSha256, batch);

    /// <summary>Usage per caller across the region, as of the silos' last flush (about a second ago).</summary>
    public Task<UsageRecord[]> GetUsageAsync() => cluster.GetGrain<IUsageProjectionGrain>(EventFeed.Key).ListAsync();

    /// <summary>
    /// How the model's shadow versions answered against the served one in this region, summed over its active silos
    /// as of their last publish (about a second ago).
    /// </summary>
    public async Task<ShadowTally[]> GetShadowTalliesAsync(string model)
    {
        ModelName.Validate(model);
        var hosts = await cluster.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        var silos = await Task.WhenAll(hosts.Keys.Select(h => cluster.GetGrain<ISiloStatsGrain>(h.ToParsableString()).GetAsync()));
        return SiloStats.ShadowTallies(silos.OfType<SiloStats>(), model);
    }

    /// <summary>The devices registered in this region (the fleet read model).</summary>
    public Task<DeviceInfo[]> ListDevicesAsync() => cluster.GetGrain<IFleetProjectionGrain>(EventFeed.Key).ListAsync();

    /// <summary>Every region's device aggregates (this one's and its peers', replicated).</summary>
    public Task<FleetSummary[]> ListFleetSummariesAsync() => cluster.GetGrain<IFleetProjectionGrain>(EventFeed.Key).ListRegionsAsync();

    /// <summary>The newest changes to models and devices: who, what, when, where.</summary>
    public Task<AuditEntry[]> GetAuditAsync(string? model = null, string? actor = null, int limit = 100) =>
        cluster.GetGrain<IAuditProjectionGrain>(EventFeed.Key).QueryAsync(model, actor, limit);

    /// <summary>Drops a read model ("catalog", "audit", "usage" or "fleet") and folds it again from the event store.</summary>
    public Task<long> RebuildProjectionAsync(string name) => Projection(name).RebuildAsync();

    /// <summary>A read model as JSON (to compare a rebuilt one with what it was).</summary>
    public Task<string> ExportProjectionAsync(string name) => Projection(name).ExportAsync();

    private IProjectionGrain Projection(string name) => name switch
    {
        "catalog" => cluster.GetGrain<ICatalogProjectionGrain>(EventFeed.Key),
        "audit" => cluster.GetGrain<IAuditProjectionGrain>(EventFeed.Key),
        "fleet" => cluster.GetGrain<IFleetProjectionGrain>(EventFeed.Key),
        "usage" => cluster.GetGrain<IUsageProjectionGrain>(EventFeed.Key),
        _ => throw new ArgumentException($"projection '{name}' does not exist (catalog, audit, usage)", nameof(name)),
    };

    /// <summary>The region this client is connected to and its replication links to its peers.</summary>
    public Task<RegionStatus> GetRegionStatusAsync() => cluster.GetGrain<IRegionGrain>(0).GetStatusAsync();

    /// <summary>A health and latency probe of the region, reporting the failovers it took over since the last one.</summary>
    public Task ProbeRegionAsync(FailoverCount[]? failoversTaken = null) => cluster.GetGrain<IRegionGrain>(0).ProbeAsync(failoversTaken ?? []);

    /// <summary>Stops or resumes shipping this region's events to <paramref name="peer"/> (a cut replication link).</summary>
    public Task SetReplicationPausedAsync(string peer, bool paused) => cluster.GetGrain<IReplicatorGrain>(peer).SetPausedAsync(paused);

    /// <summary>The position of the newest event in the region's feed (0 when none).</summary>
    public Task<long> GetEventHeadAsync() => cluster.GetGrain<IEventFeedGrain>(0).GetHeadAsync();

    /// <summary>
    /// The region's events in feed order: from <paramref name="fromPosition"/> (1: the beginning; a saved
    /// position + 1 to resume; null: only events stored from now on), only streams starting with
    /// <paramref name="streamPrefix"/> when given (e.g. "model/fraud"). Without <paramref name="follow"/> it ends
    /// at the newest event; with it, it waits for more until cancelled. Delivery is at least once and in order; a
    /// consumer that saves each event's position and resumes after it misses none.
    /// </summary>
    public async IAsyncEnumerable<EventEnvelope> ReadEventsAsync(long? fromPosition = 1, string? streamPrefix = null, bool follow = false,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation = default)
    {
        var feed = cluster.GetGrain<IEventFeedGrain>(0);
        var next = fromPosition ?? await feed.GetHeadAsync() + 1;
        var head = follow ? long.MaxValue : await feed.GetHeadAsync();
        while (!cancellation.IsCancellationRequested && next <= head)
        {
            var page = await feed.ReadAsync(next, 500, streamPrefix, follow ? FollowWait : TimeSpan.Zero);
            foreach (var envelope in page.Events)
            {
                if (!follow && envelope.Position > head) yield break;
                yield return envelope;
            }
            if (!follow && page.Events.Length == 0 && page.NextPosition == next) yield break;
            next = page.NextPosition;
        }
    }

    // How long one read waits for new events while following; short enough to notice cancellation soon.
    private static readonly TimeSpan FollowWait = TimeSpan.FromSeconds(2);

    // Checked here as well as in the grain: Orleans itself refuses some bad keys (an empty one) with a plain
    // ArgumentException before any grain could name the rule.
    private IDeviceGrain Device(string device)
    {
        if (string.IsNullOrEmpty(device)) throw new InvalidDeviceChangeException(device ?? "", "a device id must not be empty");
        if (clientId is not null && MeshActor.Current == MeshActor.System) MeshActor.Set(clientId);
        return cluster.GetGrain<IDeviceGrain>(device);
    }

    private IModelGrain Model(string model)
    {
        ModelName.Validate(model);
        // The events a management call causes name this client as their actor (unless the caller set one).
        if (clientId is not null && MeshActor.Current == MeshActor.System) MeshActor.Set(clientId);
        return cluster.GetGrain<IModelGrain>(model);
    }
}

/// <summary>
/// Hears from the Orleans client when a gateway connection is lost, and gives calls a token that is cancelled then,
/// so they stop waiting for answers that will not come.
/// </summary>
public sealed class GatewayConnectionWatch(TimeSpan settleTime, TimeSpan settlingAttemptTimeout, TimeProvider? clock = null) : IClusterConnectionStatusObserver
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private CancellationTokenSource _lost = new();
    private int _connected = -1;
    private long _lostAt = long.MinValue;

    public GatewayConnectionWatch() : this(TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(1)) { }

    /// <summary>Cancelled when a gateway connection is lost after this was read.</summary>
    public CancellationToken Lost => Volatile.Read(ref _lost).Token;

    /// <summary>Gateways connected now, as last reported (-1 before any report).</summary>
    public int Connected => Volatile.Read(ref _connected);

    /// <summary>
    /// How long a predict attempt may wait now before it is sent again: bounded while the cluster settles after a
    /// lost gateway, unbounded (the response timeout) otherwise.
    /// </summary>
    public TimeSpan AttemptTimeout => SettlingLeft > TimeSpan.Zero ? settlingAttemptTimeout : Timeout.InfiniteTimeSpan;

    /// <summary>How much of the settling period after the last lost gateway is left (zero when not settling).</summary>
    public TimeSpan SettlingLeft
    {
        get
        {
            var lostAt = Volatile.Read(ref _lostAt);
            if (lostAt == long.MinValue) return TimeSpan.Zero;
            var left = settleTime - _clock.GetElapsedTime(lostAt);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    public void NotifyGatewayCountChanged(int currentNumberOfGateways, int previousNumberOfGateways, bool connectionRecovered)
    {
        Volatile.Write(ref _connected, currentNumberOfGateways);
        if (currentNumberOfGateways < previousNumberOfGateways) Trip();
    }

    public void NotifyClusterConnectionLost()
    {
        Volatile.Write(ref _connected, 0);
        Trip();
    }

    // The old source is cancelled, not disposed: calls may still hold its token.
    private void Trip()
    {
        Volatile.Write(ref _lostAt, _clock.GetTimestamp());
        Interlocked.Exchange(ref _lost, new CancellationTokenSource()).Cancel();
    }
}

/// <summary>The gateway connection a call went over closed before its answer came; the call may or may not have run.</summary>
public sealed class GatewayConnectionLostException()
    : Exception("the connection to the mesh gateway closed before the answer came");
