using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Events;
using Mesh.Abstractions.Protocol;
using Mesh.Client;
using Microsoft.Extensions.Options;

namespace Mesh.Silo.Gateway;

/// <summary>
/// Edge sync: <c>POST /v2/devices/{id}/sync</c> with the device's token as a bearer token and a batch of results
/// (gzip allowed: Content-Encoding). Authorised by the device token, not an API key: a device holds no API key.
/// </summary>
public static class DeviceEndpoints
{
    public static void MapDeviceApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v2/devices/{device}/sync", SyncAsync).AllowAnonymous();
    }

    private static async Task<IResult> SyncAsync(HttpContext http, string device, MeshClient mesh, IOptions<GatewayOptions> options)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || header.Length <= "Bearer ".Length)
            throw new DeviceAuthenticationException(device);
        var body = await InferenceEndpoints.ReadBodyAsync(http, options.Value.MaxRequestBodyBytes, nameof(GatewayOptions.MaxRequestBodyBytes));
        var batch = DeviceSyncJson.ReadBatch(body);
        MeshActor.Set("device:" + device);
        var ack = await mesh.SyncDeviceAsync(device, ApiKeys.Hash(header["Bearer ".Length..].Trim()), batch);
        return Results.Bytes(DeviceSyncJson.WriteAck(ack), "application/json");
    }
}
