using System.Text.Json;
using System.Text.Json.Serialization;
using Mesh.Abstractions.Grains;

namespace Mesh.Edge.Outbox;

/// <summary>
/// How outboxes of schema 1 stored a result (the JSON of its record), read only to rewrite such rows into the
/// sync form (see ResultOutbox). Generated code, so the trimmed bridge needs no reflection for it.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DeviceResult))]
internal sealed partial class OutboxJson : JsonSerializerContext;
