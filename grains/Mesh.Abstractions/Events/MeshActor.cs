namespace Mesh.Abstractions.Events;

/// <summary>
/// Who a call acts for, carried with the call (Orleans request context) so the events it causes name them in the
/// audit log: the API key's name for gateway calls, the client id for SDK calls.
/// </summary>
public static class MeshActor
{
    private const string Key = "mesh.actor";
    public const string System = "system";

    public static string Current => RequestContext.Get(Key) as string is { Length: > 0 } actor ? actor : System;

    public static void Set(string? actor)
    {
        if (string.IsNullOrEmpty(actor)) RequestContext.Remove(Key);
        else RequestContext.Set(Key, actor);
    }
}
