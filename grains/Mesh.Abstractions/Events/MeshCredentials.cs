namespace Mesh.Abstractions.Events;

/// <summary>
/// The API key an Orleans client presents with each call (request context), which a silo with keys configured
/// verifies before the call runs: the Orleans gateway asks for the same keys and roles as HTTP and gRPC.
/// </summary>
public static class MeshCredentials
{
    public const string Key = "mesh.key";

    public static string? Current => RequestContext.Get(Key) as string;

    public static void Set(string? key)
    {
        if (string.IsNullOrEmpty(key)) RequestContext.Remove(Key);
        else RequestContext.Set(Key, key);
    }
}

/// <summary>
/// Marks a grain method an infer key may call (predicts and the metadata they need); every other method of a
/// grain that an external client calls needs an admin key.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class InferRoleAttribute : Attribute;
