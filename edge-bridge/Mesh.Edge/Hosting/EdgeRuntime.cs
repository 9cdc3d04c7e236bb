using Mesh.Edge.Configuration;
using Mesh.Edge.Drift;
using Mesh.Edge.Outbox;
using Mesh.Edge.Predicting;
using Mesh.Edge.Sync;
using Mesh.Edge.Telemetry;
using Mesh.Edge.Updates;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Edge.Hosting;

/// <summary>The device runtime's services, one set for the bridge process and for an application's in-process <see cref="MeshEdge"/>.</summary>
public static class EdgeRuntime
{
    /// <summary>
    /// Registers the outbox, the local models, the predictor, drift statistics, sync and over-the-air updates
    /// (both run as hosted services). The caller registers <see cref="EdgeBridgeOptions"/> and has validated them.
    /// </summary>
    public static IServiceCollection AddEdgeRuntime(this IServiceCollection services, EdgeBridgeOptions options)
    {
        EdgeTelemetry.Start();
        services.AddSingleton<ResultOutbox>();
        services.AddSingleton<LocalModels>();
        services.AddSingleton<EdgePredictor>();
        services.AddSingleton<DriftStatistics>();
        services.AddSingleton<SyncState>();
        services.AddHttpClient(SyncWorker.HttpClientName, http =>
        {
            if (!string.IsNullOrEmpty(options.MeshUrl)) http.BaseAddress = new Uri(options.MeshUrl.EndsWith('/') ? options.MeshUrl : options.MeshUrl + "/");
            http.Timeout = TimeSpan.FromSeconds(30);
        });
        services.AddHostedService<SyncWorker>();
        services.AddSingleton<ModelUpdater>();
        services.AddHostedService(provider => provider.GetRequiredService<ModelUpdater>());
        return services;
    }
}
