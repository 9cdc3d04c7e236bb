using System.Net;
using Mesh.EdgeBridge.Configuration;
using Mesh.EdgeBridge.LocalApi;
using Mesh.EdgeBridge.Outbox;
using Mesh.EdgeBridge.Sync;
using Microsoft.Extensions.Options;

namespace Mesh.EdgeBridge.Hosting;

/// <summary>The bridge's wiring, used by Program.cs and by tests alike.</summary>
public static class EdgeBridgeHosting
{
    public const string ReadyLine = "Mesh edge bridge ready:";

    public static WebApplicationBuilder AddEdgeBridge(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(EdgeBridgeOptions.Section).Get<EdgeBridgeOptions>() ?? new EdgeBridgeOptions();
        var errors = options.Validate().ToList();
        if (errors.Count > 0) throw new OptionsValidationException(EdgeBridgeOptions.Section, typeof(EdgeBridgeOptions), errors);
        builder.Services.AddOptions<EdgeBridgeOptions>().BindConfiguration(EdgeBridgeOptions.Section);
        EdgeTelemetry.Start();
        builder.AddEdgeTracing(options);

        // Loopback only: the local API is for the device's own sensors and apps.
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (options.HttpPort >= 0) kestrel.Listen(IPAddress.Loopback, options.HttpPort);
            if (!string.IsNullOrWhiteSpace(options.LocalSocket))
            {
                var socket = System.IO.Path.GetFullPath(options.LocalSocket);
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(socket)!);
                // A socket file left by a bridge that was killed would refuse the bind.
                File.Delete(socket);
                kestrel.ListenUnixSocket(socket);
            }
        });
        // stdout carries JSON lines answers when they are on; logs go to stderr then.
        builder.Logging.AddConsole(console => console.LogToStandardErrorThreshold = options.JsonLines ? LogLevel.Trace : LogLevel.Error);

        builder.Services.AddSingleton<ResultOutbox>();
        builder.Services.AddSingleton<LocalModels>();
        builder.Services.AddSingleton<EdgePredictor>();
        builder.Services.AddSingleton<Drift.DriftStatistics>();
        builder.Services.AddSingleton<SyncState>();
        builder.Services.AddHttpClient(SyncWorker.HttpClientName, http =>
        {
            if (!string.IsNullOrEmpty(options.MeshUrl)) http.BaseAddress = new Uri(options.MeshUrl.EndsWith('/') ? options.MeshUrl : options.MeshUrl + "/");
            http.Timeout = TimeSpan.FromSeconds(30);
        });
        builder.Services.AddHostedService<SyncWorker>();
        builder.Services.AddSingleton<Updates.ModelUpdater>();
        builder.Services.AddHostedService(services => services.GetRequiredService<Updates.ModelUpdater>());
        if (options.JsonLines) builder.Services.AddHostedService<JsonLinesWorker>();
        return builder;
    }

    public static WebApplication MapEdgeBridge(this WebApplication app)
    {
        app.MapLocalApi();
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var options = app.Services.GetRequiredService<IOptions<EdgeBridgeOptions>>().Value;
            if (!string.IsNullOrWhiteSpace(options.LocalSocket) && !OperatingSystem.IsWindows())
                File.SetUnixFileMode(options.LocalSocket, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
            var outbox = app.Services.GetRequiredService<ResultOutbox>();
            // Loading the models here, not on the first predict: a model that does not load stops the bridge at start.
            var models = app.Services.GetRequiredService<LocalModels>();
            Console.Error.WriteLine($"{ReadyLine} device '{options.DeviceId}', http {string.Join(", ", app.Urls)}, models {string.Join(", ", models.All.Select(m => $"{m.Name} v{m.Version}"))}, " +
                                    $"outbox {outbox.Path} ({outbox.Depth} waiting), mesh {(string.IsNullOrEmpty(options.MeshUrl) ? "none (offline)" : options.MeshUrl)}");
        });
        return app;
    }
}
