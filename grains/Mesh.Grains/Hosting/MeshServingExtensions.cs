using Mesh.Abstractions.Events;
using Mesh.Grains.Configuration;
using Mesh.Grains.Events;
using Mesh.Grains.Inference;
using Mesh.Grains.Replication;
using Mesh.Grains.Storage;
using Mesh.Grains.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Runtime.Hosting;

namespace Mesh.Grains.Hosting;

public static class MeshServingExtensions
{
    /// <summary>
    /// Adds what the mesh's grains need to a silo: options (validated at start), the embedded default stores
    /// (SQLite grain storage and the file artifact store under the data directory), the session pool and the
    /// version directory, and the metrics. The silo host and the test clusters both call this.
    /// </summary>
    public static ISiloBuilder AddMeshServing(this ISiloBuilder silo)
    {
        // Trace context rides on grain calls, so a caller's trace continues into the predict span.
        silo.AddActivityPropagation();
        var services = silo.Services;
        services.AddValidatedOptions<StorageOptions>(StorageOptions.Section);
        services.AddValidatedOptions<InferenceOptions>(InferenceOptions.Section);

        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<TrafficStats>();
        services.AddSingleton<InferenceStatistics>();
        services.AddSingleton<MeshMetrics>();
        services.AddHostedService<Operations.SiloStatsPublisher>();

        services.AddSingleton<HybridClock>();
        services.AddSingleton<EventJournal>();
        services.AddValidatedOptions<RegionOptions>(RegionOptions.Section);
        services.AddSingleton<PeerConnections>();
        services.AddSingleton<ResidencyLookup>();
        services.AddHostedService<ReplicationStarter>();

        services.AddSingleton<ModelVersionDirectory>();
        services.AddSingleton<SessionPool>();
        services.AddHostedService(sp => sp.GetRequiredService<SessionPool>());
        services.AddSingleton<InferenceScheduler>();
        services.AddSingleton<LocalInference>();
        services.AddSingleton<UsageMeter>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageMeter>());
        services.AddSingleton<WarmSessionKeeper>();
        services.AddHostedService(sp => sp.GetRequiredService<WarmSessionKeeper>());
        return silo;
    }

    /// <summary>
    /// The embedded default storage, nothing to install: the SQLite event store and file artifacts under the data
    /// directory, SQLite grain storage, and event announcements on in-memory streams (the store stays the truth).
    /// The production profile (Mesh.Storage.Azure) replaces all of it.
    /// </summary>
    public static ISiloBuilder AddMeshEmbeddedStorage(this ISiloBuilder silo)
    {
        var services = silo.Services;
        services.AddSingleton<IArtifactStore, FileArtifactStore>();
        services.AddSingleton<IEventStore, SqliteEventStore>();
        services.AddGrainStorage("PubSubStore", (sp, _) => ActivatorUtilities.CreateInstance<SqliteGrainStorage>(sp));
        silo.AddMemoryStreams(EventFeed.StreamProvider);
        return silo;
    }

    public static OptionsBuilder<T> AddValidatedOptions<T>(this IServiceCollection services, string section) where T : class, IValidatedOptions
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<T>, SelfValidatingOptions<T>>());
        return services.AddOptions<T>().BindConfiguration(section).ValidateOnStart();
    }
}
