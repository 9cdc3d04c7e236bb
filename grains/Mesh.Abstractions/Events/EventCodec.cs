using System.Text.Json;
using System.Text.Json.Serialization;
using Mesh.Abstractions.Errors;

namespace Mesh.Abstractions.Events;

/// <summary>
/// The names and schema versions events are stored under, and their JSON. A type name is part of the log's
/// contract: a renamed CLR type keeps its stored name here. Reading an event of an unknown type, of a schema
/// newer than this code knows, or with a payload that does not parse is a <see cref="CorruptEventException"/>.
/// </summary>
public static class EventCodec
{
    public const int SchemaVersion = 1;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly Dictionary<string, Type> ByName = new(StringComparer.Ordinal)
    {
        ["model.version-registered"] = typeof(ModelVersionRegistered),
        ["model.version-promoted"] = typeof(ModelVersionPromoted),
        ["model.traffic-split-set"] = typeof(ModelTrafficSplitSet),
        ["model.shadow-set"] = typeof(ModelShadowSet),
        ["model.rolled-back"] = typeof(ModelRolledBack),
        ["model.version-retired"] = typeof(ModelVersionRetired),
        ["model.policy-changed"] = typeof(ModelPolicyChanged),
        ["model.residency-set"] = typeof(ModelResidencySet),
        ["model.drift-baseline-set"] = typeof(ModelDriftBaselineSet),
        ["model.serving-set"] = typeof(ModelServingSet),
        ["usage.recorded"] = typeof(UsageRecorded),
        ["fleet.summary-recorded"] = typeof(FleetSummaryRecorded),
        ["device.registered"] = typeof(DeviceRegistered),
        ["device.desired-set"] = typeof(DeviceDesiredSet),
        ["device.reported"] = typeof(DeviceReported),
        ["device.token-issued"] = typeof(DeviceTokenIssued),
        ["device.results-synced"] = typeof(DeviceResultsSynced),
        ["device.results-lost"] = typeof(DeviceResultsLost),
        ["device.drift-reported"] = typeof(DeviceDriftReported),
        ["device.drift-detected"] = typeof(DeviceDriftDetected),
        ["device.drift-cleared"] = typeof(DeviceDriftCleared),
    };

    private static readonly Dictionary<Type, string> ByType = ByName.ToDictionary(e => e.Value, e => e.Key);

    public static string TypeName(object e) => TypeName(e.GetType());

    public static string TypeName(Type type) =>
        ByType.TryGetValue(type, out var name) ? name : throw new ArgumentException($"{type.Name} is not a stored event type", nameof(type));

    /// <summary>An event ready to append, stamped with who caused it, where, and when.</summary>
    public static EventData Encode(object e, string actor, string region, DateTimeOffset timestamp) =>
        new(Guid.NewGuid(), TypeName(e), SchemaVersion, timestamp, actor, region, JsonSerializer.Serialize(e, e.GetType(), Json));

    /// <summary>The event an envelope holds.</summary>
    public static object Decode(EventEnvelope envelope) => Decode(envelope, null);

    /// <summary>
    /// Part of the event an envelope holds: its payload read as <typeparamref name="TView"/>, a record with a
    /// subset of the event's properties; the rest of the payload is skipped, never built.
    /// </summary>
    public static TView DecodeAs<TView>(EventEnvelope envelope) where TView : class => (TView)Decode(envelope, typeof(TView));

    private static object Decode(EventEnvelope envelope, Type? view)
    {
        if (!ByName.TryGetValue(envelope.Type, out var type))
            throw new CorruptEventException(envelope.Stream, envelope.Version, envelope.Type, "the type is unknown to this version of Mesh");
        if (envelope.SchemaVersion > SchemaVersion)
            throw new CorruptEventException(envelope.Stream, envelope.Version, envelope.Type, $"schema version {envelope.SchemaVersion} is newer than the {SchemaVersion} this version of Mesh reads");
        try
        {
            return JsonSerializer.Deserialize(envelope.Data, view ?? type, Json)
                   ?? throw new CorruptEventException(envelope.Stream, envelope.Version, envelope.Type, "the payload is null");
        }
        catch (JsonException e)
        {
            throw new CorruptEventException(envelope.Stream, envelope.Version, envelope.Type, $"the payload is not valid JSON for it ({e.Message})");
        }
    }

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Json);

    public static T? Deserialize<T>(string json) => JsonSerializer.Deserialize<T>(json, Json);
}
