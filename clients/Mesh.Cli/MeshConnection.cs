using Mesh.Abstractions.Events;
using Mesh.Abstractions.Errors;
using Mesh.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mesh.Client.Http;

namespace Mesh.Cli;

/// <summary>Exit codes of the mesh command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The mesh refused the request (unknown model, bad input, invalid file...).</summary>
    public const int Rejected = 1;
    /// <summary>The command line or a local file is wrong.</summary>
    public const int Usage = 2;
    /// <summary>No gateway answered.</summary>
    public const int Unreachable = 3;
}

/// <summary>Connects to a gateway for one command, runs it, and turns failures into a one-line error and an exit code.</summary>
public static class MeshConnection
{
    public static async Task<int> RunAsync(string gateway, string cluster, TimeSpan connectTimeout, Func<MeshClient, Task<int>> command)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        // The CLI speaks through its exit code and one line of error; the client's own logs would drown both.
        builder.Logging.ClearProviders();
        IHost host;
        try
        {
            builder.AddMeshClient(o =>
            {
                o.Gateways = [gateway];
                o.ClusterId = cluster;
                o.ConnectTimeout = connectTimeout;
                // A command on loopback or a LAN connects in milliseconds; 2 s still leaves a slow WAN room, and a
                // wrong --cluster (a handshake that never completes) then shows in 2 s instead of Orleans' 5.
                o.OpenConnectionTimeout = TimeSpan.FromSeconds(Math.Min(2, connectTimeout.TotalSeconds));
                // A secured mesh: the key (its name is who the audit log names) and the client certificate.
                o.ApiKey = Environment.GetEnvironmentVariable("MESH_API_KEY");
                o.Tls.CertificatePath = Environment.GetEnvironmentVariable("MESH_TLS_CERT");
                o.Tls.KeyPath = Environment.GetEnvironmentVariable("MESH_TLS_KEY");
                o.Tls.CaPath = Environment.GetEnvironmentVariable("MESH_TLS_CA");
            });
            host = builder.Build();
        }
        catch (ArgumentException e)
        {
            return Fail(ExitCodes.Usage, e.Message);
        }

        using (host)
        {
            try
            {
                await host.StartAsync();
            }
            catch (Exception e)
            {
                // Orleans reports a refused handshake and a dead port alike once its retries are over, so ask the
                // port itself: a gateway that takes a TCP connection but not this client serves another cluster.
                if (GatewayRefusal.IsRefusal(e) || await AcceptsConnectionsAsync(gateway))
                    return Fail(ExitCodes.Unreachable, $"the gateway at {gateway} answered but refused this client: it serves another cluster than '{cluster}', " +
                                                       "or it asks for a client certificate this client does not have or the mesh does not trust. " +
                                                       "Pass the region's name with --cluster (or MESH_CLUSTER; the silo prints it at start: \"Mesh silo ready: cluster '...'\"), " +
                                                       "and a certificate of the mesh's authority with MESH_TLS_CERT, MESH_TLS_KEY and MESH_TLS_CA (the silo's \"Mesh trust:\" line says whether it asks).");
                return Fail(ExitCodes.Unreachable, $"cannot reach the mesh gateway at {gateway} (cluster '{cluster}'): {e.Message}");
            }

            try
            {
                // The changes this command makes are audited under this name.
                MeshActor.Set(Environment.GetEnvironmentVariable("MESH_ACTOR") is { Length: > 0 } actor ? actor : $"cli:{Environment.UserName}");
                return await command(host.Services.GetRequiredService<MeshClient>());
            }
            catch (MeshException e)
            {
                return Fail(ExitCodes.Rejected, e.Message);
            }
            catch (CommandLineInputException e)
            {
                return Fail(ExitCodes.Usage, e.Message);
            }
            catch (Exception e) when (e is Orleans.Runtime.SiloUnavailableException or Orleans.Runtime.OrleansMessageRejectionException or TimeoutException)
            {
                return Fail(ExitCodes.Unreachable, $"the mesh gateway at {gateway} stopped answering: {e.Message}");
            }
            finally
            {
                await host.StopAsync();
            }
        }
    }

    private static async Task<bool> AcceptsConnectionsAsync(string gateway)
    {
        var colon = gateway.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(gateway[(colon + 1)..], out var port)) return false;
        try
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await tcp.ConnectAsync(gateway[..colon], port, timeout.Token);
            return true;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Runs a command against the HTTP gateway at <paramref name="url"/>.</summary>
    /// <summary>
    /// Runs a command over several regions (<c>--regions east=HOST:PORT,west=HOST:PORT</c>, nearest first): predicts
    /// go to the first region that is up and move to the next when it fails or is slow (MeshRegions).
    /// </summary>
    public static async Task<int> RunRegionsAsync(string spec, Func<MeshRegions, Task<int>> command)
    {
        var endpoints = new List<MeshRegionEndpoint>();
        foreach (var entry in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = entry.IndexOf('=');
            if (equals <= 0 || equals == entry.Length - 1)
                return Fail(ExitCodes.Usage, $"--regions: '{entry}' is not NAME=HOST:PORT (e.g. --regions east=127.0.0.1:30000,west=127.0.0.1:30001)");
            endpoints.Add(new MeshRegionEndpoint { Name = entry[..equals], Gateways = [.. entry[(equals + 1)..].Split('+')] });
        }
        var options = new MeshRegionsOptions
        {
            Regions = endpoints,
            ClientId = $"cli:{Environment.UserName}",
            ApiKey = Environment.GetEnvironmentVariable("MESH_API_KEY"),
        };
        (options.Tls.CertificatePath, options.Tls.KeyPath, options.Tls.CaPath) =
            (Environment.GetEnvironmentVariable("MESH_TLS_CERT"), Environment.GetEnvironmentVariable("MESH_TLS_KEY"), Environment.GetEnvironmentVariable("MESH_TLS_CA"));
        if (options.Validate().FirstOrDefault() is { } error) return Fail(ExitCodes.Usage, $"--regions: {error}");
        MeshRegions regions;
        try
        {
            regions = await MeshRegions.ConnectAsync(options);
        }
        catch (ArgumentException e)
        {
            return Fail(ExitCodes.Usage, $"--regions: {e.Message}");
        }
        await using (regions)
        {
            try
            {
                return await command(regions);
            }
            catch (MeshUnavailableException e)
            {
                return Fail(ExitCodes.Unreachable, e.Message);
            }
            catch (MeshException e)
            {
                return Fail(ExitCodes.Rejected, e.Message);
            }
            catch (CommandLineInputException e)
            {
                return Fail(ExitCodes.Usage, e.Message);
            }
        }
    }

    public static async Task<int> RunHttpAsync(string url, string? apiKey, Func<MeshHttpClient, Task<int>> command)
    {
        if (!Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out var baseAddress) || baseAddress.Scheme is not ("http" or "https"))
            return Fail(ExitCodes.Usage, $"--http: '{url}' is not an http(s) URL");
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(100) };
        try
        {
            return await command(new MeshHttpClient(http, apiKey));
        }
        catch (MeshHttpException e)
        {
            return Fail(ExitCodes.Rejected, e.Message);
        }
        catch (MeshException e)
        {
            return Fail(ExitCodes.Rejected, e.Message);
        }
        catch (CommandLineInputException e)
        {
            return Fail(ExitCodes.Usage, e.Message);
        }
        catch (HttpRequestException e)
        {
            return Fail(ExitCodes.Unreachable, $"cannot reach the mesh HTTP gateway at {url}: {e.Message}");
        }
    }

    /// <summary>Runs a command against the gRPC endpoint at <paramref name="url"/>.</summary>
    public static async Task<int> RunGrpcAsync(string url, Func<Grpc.Net.Client.GrpcChannel, Task<int>> command)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https"))
            return Fail(ExitCodes.Usage, $"--grpc: '{url}' is not an http(s) URL");
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(address);
        try
        {
            return await command(channel);
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.Unavailable)
        {
            return Fail(ExitCodes.Unreachable, $"cannot reach the mesh gRPC endpoint at {url}: {e.Status.Detail}");
        }
        catch (Grpc.Core.RpcException e)
        {
            return Fail(ExitCodes.Rejected, e.Status.Detail);
        }
        catch (CommandLineInputException e)
        {
            return Fail(ExitCodes.Usage, e.Message);
        }
    }

    public static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return code;
    }
}

/// <summary>A command line or local file the CLI cannot use; reported with exit code 2.</summary>
public sealed class CommandLineInputException(string message) : Exception(message);
