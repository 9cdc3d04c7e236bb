using System.Reflection;
using System.Security.Cryptography;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Protocol;
using Microsoft.Extensions.Options;

namespace Mesh.Silo.Gateway;

/// <summary>
/// The Orleans gateway's keys and roles, the same as HTTP's and gRPC's (Mesh:Gateway:ApiKeys). A call from an
/// external client (an SDK, the CLI, a peer region's link) must carry a known key (<see cref="MeshCredentials"/>);
/// methods marked <see cref="InferRoleAttribute"/> need an infer key, every other one an admin key. The audit actor
/// of the call is then the key's name, whatever the client said it was. Calls between grains, and from this
/// cluster's silos' own clients (the HTTP and gRPC gateway, which checked the caller's key already), pass. With no
/// keys configured every caller passes, as on HTTP: a loopback development mesh.
/// </summary>
public sealed class OrleansGatewayAuthorization(IOptions<GatewayOptions> gateway) : IIncomingGrainCallFilter
{
    private readonly (string Name, string Role, byte[] Hash)[] _keys =
        gateway.Value.ApiKeys.Select(k => (k.Name, k.Role, Convert.FromHexString(k.Sha256))).ToArray();

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (_keys.Length == 0 || context.SourceId is not { } source || !source.IsClient() || IsSiloClient(source) || !IsMeshGrain(context))
        {
            await context.Invoke();
            return;
        }
        var method = $"{context.InterfaceMethod?.DeclaringType?.Name}.{context.InterfaceMethod?.Name}";
        var presented = MeshCredentials.Current;
        var known = presented is null ? default : Find(ApiKeys.HashBytes(presented));
        if (known.Name is null) throw new CallerUnauthenticatedException(method);
        var needed = context.InterfaceMethod?.GetCustomAttribute<InferRoleAttribute>() is null ? GatewayRoles.Admin : GatewayRoles.Infer;
        if (needed == GatewayRoles.Admin && known.Role != GatewayRoles.Admin)
            throw new CallerForbiddenException(method, known.Name, known.Role, needed);
        MeshActor.Set(known.Name);
        // Checked here; the grains this call reaches need not carry the key any further.
        MeshCredentials.Set(null);
        await context.Invoke();
    }

    private (string? Name, string Role) Find(byte[] presented)
    {
        foreach (var key in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, key.Hash)) return (key.Name, key.Role);
        }
        return default;
    }

    // Orleans' own calls from a client (its cluster manifest, at connection) go to system targets; only the mesh's
    // grains are guarded.
    private static bool IsMeshGrain(IIncomingGrainCallContext context) =>
        context.InterfaceMethod?.DeclaringType?.Assembly == typeof(MeshCredentials).Assembly;

    // A silo's own cluster client is named "hosted-<silo address>" by Orleans. Only its silo's process makes calls
    // under that name over silo-to-silo links, which mutual TLS (Mesh:Silo:Tls) reserves to the cluster's silos.
    private static bool IsSiloClient(GrainId source) => source.Key.ToString().StartsWith("hosted-", StringComparison.Ordinal);
}
