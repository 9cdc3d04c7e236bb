using Mesh.Abstractions.Events;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mesh.Client;

public static class MeshClientHostingExtensions
{
    /// <summary>
    /// Connects the host to a mesh as an Orleans client and registers <see cref="MeshClient"/>. Settings come
    /// from the <c>Mesh:Client</c> section, then <paramref name="configure"/>.
    /// </summary>
    public static IHostApplicationBuilder AddMeshClient(this IHostApplicationBuilder builder, Action<MeshClientOptions>? configure = null)
    {
        var options = new MeshClientOptions();
        builder.Configuration.GetSection(MeshClientOptions.Section).Bind(options);
        configure?.Invoke(options);
        var gateways = options.ResolveGateways();

        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(gateways);
            client.Configure<Orleans.Configuration.ClusterOptions>(cluster =>
            {
                cluster.ClusterId = options.ClusterId;
                cluster.ServiceId = options.ServiceId;
            });
            client.AddActivityPropagation();
            if (options.ResponseTimeout <= TimeSpan.Zero) throw new ArgumentException($"{MeshClientOptions.Section}:{nameof(MeshClientOptions.ResponseTimeout)} must be positive (was {options.ResponseTimeout})");
            if (options.GatewayLossSettleTime < TimeSpan.Zero) throw new ArgumentException($"{MeshClientOptions.Section}:{nameof(MeshClientOptions.GatewayLossSettleTime)} must not be negative (was {options.GatewayLossSettleTime})");
            if (options.SettlingAttemptTimeout <= TimeSpan.Zero || options.SettlingAttemptTimeout > options.ResponseTimeout)
                throw new ArgumentException($"{MeshClientOptions.Section}:{nameof(MeshClientOptions.SettlingAttemptTimeout)} must be positive and at most {nameof(MeshClientOptions.ResponseTimeout)} ({options.ResponseTimeout}) (was {options.SettlingAttemptTimeout})");
            client.Configure<Orleans.Configuration.ClientMessagingOptions>(m => m.ResponseTimeout = options.ResponseTimeout);
            if (options.Tls.Enabled)
            {
                if (options.Tls.Validate(MeshClientOptions.Section + ":Tls").FirstOrDefault() is { } error) throw new ArgumentException(error);
                client.UseTls(options.Tls.Apply);
            }
            if (options.ApiKey is { Length: > 0 } key)
            {
                client.AddOutgoingGrainCallFilter(call =>
                {
                    MeshCredentials.Set(key);
                    return call.Invoke();
                });
            }
            if (options.OpenConnectionTimeout is { } open)
                client.Configure<Orleans.Configuration.ConnectionOptions>(c => c.OpenConnectionTimeout = open);
            // Without a filter the first connection waits minutes on a gateway that is down; give up after
            // ConnectTimeout so a CLI or app reports the problem instead of hanging.
            DateTime? firstFailure = null;
            client.UseConnectionRetryFilter(async (error, cancellation) =>
            {
                // A gateway that accepts the connection and then closes it refused this client (another cluster id):
                // waiting will not change its mind, so say so now rather than after ConnectTimeout.
                if (GatewayRefusal.IsRefusal(error)) return false;
                firstFailure ??= DateTime.UtcNow;
                if (DateTime.UtcNow - firstFailure >= options.ConnectTimeout) return false;
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellation);
                return true;
            });
        });
        builder.Services.AddSingleton(_ => new GatewayConnectionWatch(options.GatewayLossSettleTime, options.SettlingAttemptTimeout));
        builder.Services.AddSingleton<IClusterConnectionStatusObserver>(sp => sp.GetRequiredService<GatewayConnectionWatch>());
        builder.Services.AddSingleton(sp => new MeshClient(sp.GetRequiredService<IClusterClient>(), options.ClientId, sp.GetRequiredService<GatewayConnectionWatch>()));
        return builder;
    }
}

/// <summary>Tells a gateway that refused a client apart from one that is down.</summary>
public static class GatewayRefusal
{
    /// <summary>
    /// True when the connection was made and the gateway closed it during Orleans' handshake, which is what a
    /// gateway of another cluster (a wrong ClusterId) does; a gateway that is down refuses the TCP connection instead.
    /// </summary>
    public static bool IsRefusal(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            // Microsoft.AspNetCore.Connections' type, matched by name so the SDK takes no dependency on it.
            if (e.GetType().Name == "ConnectionAbortedException") return true;
            if (e is System.Net.Sockets.SocketException) return false;
        }
        return false;
    }
}
