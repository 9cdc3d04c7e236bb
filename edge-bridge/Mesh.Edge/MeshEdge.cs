using Mesh.Abstractions.Inference;
using Mesh.Edge.Configuration;
using Mesh.Edge.Hosting;
using Mesh.Edge.Outbox;
using Mesh.Edge.Predicting;
using Mesh.Edge.Sync;
using Mesh.Edge.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Edge;

/// <summary>
/// The edge bridge inside an application on the device: the same local models, outbox, sync and updates as the
/// mesh-edge process, with predicts as method calls instead of HTTP. A result is durable in the outbox before
/// <see cref="PredictAsync"/> returns, and syncs to the mesh exactly once in effect, as the process's do. One
/// data directory belongs to one runtime at a time (the bridge process or this).
/// </summary>
public sealed class MeshEdge : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly EdgePredictor _predictor;

    private MeshEdge(IHost host)
    {
        _host = host;
        _predictor = host.Services.GetRequiredService<EdgePredictor>();
        Outbox = host.Services.GetRequiredService<ResultOutbox>();
        Sync = host.Services.GetRequiredService<SyncState>();
        Models = host.Services.GetRequiredService<LocalModels>();
    }

    /// <summary>
    /// Loads the models and opens the outbox, then starts sync and updates in the background. Settings that are
    /// wrong throw <see cref="OptionsValidationException"/>, each failure naming its key; a model that does not
    /// load throws here, not on the first predict.
    /// </summary>
    public static async Task<MeshEdge> StartAsync(EdgeBridgeOptions options, Action<ILoggingBuilder>? logging = null, CancellationToken cancellation = default)
    {
        var errors = options.Validate().ToList();
        if (errors.Count > 0) throw new OptionsValidationException(EdgeBridgeOptions.Section, typeof(EdgeBridgeOptions), errors);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.Services.AddSingleton(Options.Create(options));
        builder.Services.AddEdgeRuntime(options);
        builder.Services.AddEdgeTracing(options);
        var host = builder.Build();
        try
        {
            // The models and the outbox open before anything runs, as in the bridge process.
            _ = host.Services.GetRequiredService<LocalModels>();
            _ = host.Services.GetRequiredService<ResultOutbox>();
            await host.StartAsync(cancellation);
        }
        catch
        {
            await DisposeHostAsync(host);
            throw;
        }
        return new MeshEdge(host);
    }

    /// <summary>
    /// Predicts as the local API's infer does: on the device when the model is here (and confident enough),
    /// otherwise at the home region when a mesh is configured. The result is stored before this returns.
    /// </summary>
    public Task<EdgePrediction> PredictAsync(PredictRequest request) => _predictor.PredictAsync(request);

    /// <summary>The outbox: depth, last sequence number, losses.</summary>
    public ResultOutbox Outbox { get; }

    /// <summary>How sync stands: applied through, last sync, last error.</summary>
    public SyncState Sync { get; }

    /// <summary>The models loaded on the device.</summary>
    public LocalModels Models { get; }

    public ValueTask DisposeAsync() => new(DisposeHostAsync(_host));

    private static async Task DisposeHostAsync(IHost host)
    {
        try { await host.StopAsync(TimeSpan.FromSeconds(5)); }
        finally
        {
            if (host is IAsyncDisposable asyncHost) await asyncHost.DisposeAsync();
            else host.Dispose();
        }
    }
}
