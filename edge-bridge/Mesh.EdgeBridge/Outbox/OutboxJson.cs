using System.Text.Json;
using System.Text.Json.Serialization;
using Mesh.Abstractions.Grains;

namespace Mesh.EdgeBridge.Outbox;

/// <summary>
/// How a result is stored in the outbox: JSON written by generated code, so the trimmed bridge (publish profiles
/// linux-x64, linux-arm64) keeps what it needs without reflection.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DeviceResult))]
internal sealed partial class OutboxJson : JsonSerializerContext;
