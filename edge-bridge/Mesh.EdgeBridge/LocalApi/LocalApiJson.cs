using System.Text.Json.Serialization;

namespace Mesh.EdgeBridge.LocalApi;

public sealed record LiveAnswer(bool Live);

public sealed record ReadyAnswer(bool Ready);

public sealed record ErrorAnswer(string Error);

public sealed record ModelAnswer(string Name, int Version, string Sha256);

/// <summary>What <c>GET /v2/edge/status</c> answers: the outbox, the sync, the models, the twin's desired half.</summary>
public sealed record EdgeStatus(
    string Device, long OutboxDepth, long LastSequence, long Lost, long AppliedThrough, DateTimeOffset? LastSync,
    string? LastError, long Syncs, ModelAnswer[] Models, Dictionary<string, string> Desired, string Durability);

/// <summary>The local API's JSON, written by generated code so the trimmed bridge needs no reflection.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(LiveAnswer))]
[JsonSerializable(typeof(ReadyAnswer))]
[JsonSerializable(typeof(ErrorAnswer))]
[JsonSerializable(typeof(EdgeStatus))]
internal sealed partial class LocalApiJson : JsonSerializerContext
{
    /// <summary>For answers people read: quotes and apostrophes in error messages stay as they are.</summary>
    public static LocalApiJson Readable { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
