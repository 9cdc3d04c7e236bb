using System.Net;
using Mesh.Edge.Configuration;
using Mesh.Edge.Hosting;
using Mesh.Edge.Outbox;
using Mesh.Edge.Predicting;
using Mesh.Edge.Telemetry;
using Mesh.EdgeBridge.LocalApi;
using Microsoft.Extensions.Options;
using OpenTelemetry.Trace;

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
        builder.Services.AddEdgeRuntime(options);
        builder.Services.AddEdgeTracing(options, tracing => tracing.AddAspNetCoreInstrumentation());

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
