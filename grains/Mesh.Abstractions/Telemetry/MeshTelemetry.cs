namespace Mesh.Abstractions.Telemetry;

/// <summary>
/// Names of the mesh's one ActivitySource and one Meter, and of their instruments and tags, so exporters,
/// dashboards and tests refer to the same strings.
/// </summary>
public static class MeshTelemetry
{
    public const string SourceName = "Mesh";
    public const string MeterName = "Mesh";
    /// <summary>The edge bridge's ActivitySource.</summary>
    public const string EdgeSourceName = "Mesh.Edge";
    /// <summary>service.name of a silo's and of an edge bridge's telemetry, as a collector shows them.</summary>
    public const string SiloServiceName = "mesh-silo";
    public const string EdgeServiceName = "mesh-edge";

    public static class Spans
    {
        public const string Predict = "mesh.predict";
        public const string SessionLoad = "mesh.session.load";
        /// <summary>One dynamic batch: child of its first request's predict span, linked to the others'.</summary>
        public const string Batch = "mesh.batch";
        /// <summary>The ONNX Runtime run of a batch.</summary>
        public const string OnnxRun = "mesh.onnx.run";
        /// <summary>An edge bridge's local predict (source <see cref="EdgeSourceName"/>).</summary>
        public const string EdgePredict = "mesh.edge.predict";
        /// <summary>An edge bridge sending one batch of results; its context travels in the batch.</summary>
        public const string EdgeSync = "mesh.edge.sync";
        /// <summary>The mesh taking a device's sync batch, child of the batch's own trace context.</summary>
        public const string DeviceSync = "mesh.device.sync";
        /// <summary>The device grain applying a sync batch (writes the results as events).</summary>
        public const string DeviceApply = "mesh.device.apply";
        /// <summary>A read model folding an event, child of the trace the event was written in.</summary>
        public const string EventConsume = "mesh.event.consume";
    }

    public static class Instruments
    {
        public const string PredictRequests = "mesh.predict.requests";
        public const string PredictDuration = "mesh.predict.duration";
        public const string ColdStarts = "mesh.cold_starts";
        public const string ColdStartDuration = "mesh.cold_start.duration";
        public const string LoadedSessions = "mesh.sessions.loaded";
        public const string BatchSize = "mesh.batch.size";
        public const string BatchRequests = "mesh.batch.requests";
        public const string ComputeDuration = "mesh.compute.duration";
        public const string QueueDuration = "mesh.queue.duration";
        public const string QueueDepth = "mesh.queue.depth";
        public const string UsageRequests = "mesh.usage.requests";
        public const string UsageRows = "mesh.usage.rows";
        public const string UsageCompute = "mesh.usage.compute";
        public const string UsageQueue = "mesh.usage.queue";
        public const string ShadowComparisons = "mesh.shadow.comparisons";
        public const string ReplicatedEvents = "mesh.replication.events";
        public const string ReplicationLag = "mesh.replication.lag";
        public const string ReplicationConflicts = "mesh.replication.conflicts";
        public const string ReplicationRefused = "mesh.replication.refused";
        public const string FailoversTaken = "mesh.region.failovers";
        public const string DeviceResults = "mesh.device.results";
        public const string ReplicationBehind = "mesh.replication.behind";
        public const string ReplicationPeerUp = "mesh.replication.peer_up";
        public const string FleetDevices = "mesh.fleet.devices";
        public const string FleetDevicesDrifting = "mesh.fleet.devices.drifting";
        public const string FleetSyncAgeMax = "mesh.fleet.sync_age.max";
    }

    public static class Tags
    {
        public const string Model = "mesh.model";
        public const string Version = "mesh.model.version";
        public const string ColdStart = "mesh.cold_start";
        public const string Outcome = "mesh.outcome";
        public const string Silo = "mesh.silo";
        /// <summary>The region (cluster) a silo serves; a resource attribute of its telemetry.</summary>
        public const string Region = "mesh.region";
        public const string Caller = "mesh.caller";
        public const string ErrorType = "error.type";
        public const string ShadowVersion = "mesh.shadow.version";
        public const string Peer = "mesh.region.peer";
        public const string FromRegion = "mesh.region.from";
        public const string Reason = "mesh.reason";
        public const string Register = "mesh.model.register";
        public const string BatchRequests = "mesh.batch.requests";
        public const string BatchRows = "mesh.batch.rows";
        public const string Device = "mesh.device";
        public const string Results = "mesh.device.results";
        public const string EventType = "mesh.event.type";
        public const string ReadModel = "mesh.read_model";
    }
}
