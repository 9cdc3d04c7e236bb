using System.Diagnostics.Metrics;
using Mesh.Abstractions.Telemetry;
using Mesh.Grains.Configuration;
using Mesh.Grains.Hosting;
using Mesh.Silo.Configuration;
using Mesh.Silo.Gateway;
using Mesh.Storage.Azure;
using Microsoft.Extensions.Options;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Dashboard;

namespace Mesh.Silo.Hosting;

public static class MeshSiloHosting
{
    /// <summary>
    /// The whole silo: Orleans with the embedded default storage on localhost clustering, or the production profile
    /// on Azure Storage when Mesh:Storage:AzureConnectionString is set; the mesh's grains
    /// and services, telemetry as configured, and the sample model for an empty registry.
    /// </summary>
    public static WebApplicationBuilder AddMeshSilo(this WebApplicationBuilder builder)
    {
        // Read now, not lazily: clustering needs the ports before the host is built, so a bad port
        // must fail here with its key named.
        var silo = BindAndValidate<SiloOptions>(builder.Configuration, SiloOptions.Section);
        var telemetry = BindAndValidate<TelemetryOptions>(builder.Configuration, TelemetryOptions.Section);
        var gateway = BindAndValidate<GatewayOptions>(builder.Configuration, GatewayOptions.Section);
        builder.Services.AddValidatedOptions<SiloOptions>(SiloOptions.Section);
        builder.Services.AddValidatedOptions<TelemetryOptions>(TelemetryOptions.Section);

        var storage = BindAndValidate<StorageOptions>(builder.Configuration, StorageOptions.Section);
        var regionNames = builder.Configuration.GetSection(RegionOptions.Section).Get<RegionOptions>()?.Peers.Select(p => p.Name).Append(silo.ClusterId) ?? [silo.ClusterId];
        // Provisional version numbers are ranges derived from region names: two regions must not share one.
        if (Mesh.Grains.Models.VersionNumbering.Collisions(regionNames).FirstOrDefault() is ({ } a, { } b))
            throw new OptionsValidationException(RegionOptions.Section, typeof(RegionOptions),
                [$"{RegionOptions.Section}: regions '{a}' and '{b}' would number versions provisionally from the same range; rename one of them"]);

        builder.UseOrleans(orleans =>
        {
            // The one place the storage profile is chosen.
            if (storage.UsesAzure)
            {
                orleans.Configure<Orleans.Configuration.ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (silo.ClusterId, silo.ServiceId));
                orleans.AddMeshAzureStorage(storage.AzureConnectionString!, silo.ServiceId, System.Net.IPAddress.Parse(silo.AdvertisedAddress), silo.SiloPort, silo.GatewayPort);
            }
            else
            {
                orleans.UseLocalhostClustering(silo.SiloPort, silo.GatewayPort, serviceId: silo.ServiceId, clusterId: silo.ClusterId);
                orleans.AddMeshEmbeddedStorage();
            }
            if (silo.GatewayListenPort is { } listen)
            {
                orleans.Configure<Orleans.Configuration.EndpointOptions>(o =>
                    o.GatewayListeningEndpoint = new System.Net.IPEndPoint(o.SiloListeningEndpoint?.Address ?? o.AdvertisedIPAddress, listen));
            }
            if (silo.Tls.Enabled) orleans.UseTls(silo.Tls.Apply);
            orleans.AddIncomingGrainCallFilter<OrleansGatewayAuthorization>();
            orleans.AddMeshServing();
            if (telemetry.OrleansDashboard) orleans.AddDashboard();
        });

        var peerKey = builder.Configuration.GetSection(Mesh.Grains.Configuration.RegionOptions.Section)[nameof(Mesh.Grains.Configuration.RegionOptions.PeerApiKey)];
        builder.Services.AddSingleton(new Mesh.Grains.Replication.PeerClientSetup(client =>
        {
            // A region's link is an Orleans client of the peer: it shows this silo's certificate and this region's key.
            if (silo.Tls.Enabled) client.UseTls(silo.Tls.Apply);
            if (!string.IsNullOrEmpty(peerKey))
            {
                client.AddOutgoingGrainCallFilter(call =>
                {
                    Mesh.Abstractions.Events.MeshCredentials.Set(peerKey);
                    return call.Invoke();
                });
            }
        }));
        builder.AddMeshGateway(gateway);
        builder.AddMeshTelemetry(telemetry, silo);
        builder.Services.AddHostedService<SampleModelSeeder>();
        builder.Services.AddHostedService<ReadyReporter>();
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(15));
        return builder;
    }

    private static void AddMeshTelemetry(this IHostApplicationBuilder builder, TelemetryOptions telemetry, SiloOptions silo)
    {
        // Every log line carries the trace and span it was written in (as scopes; the JSON console writes them).
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId | ActivityTrackingOptions.ParentId);
        if (telemetry.JsonLogs)
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddJsonConsole(json =>
            {
                json.IncludeScopes = true;
                json.UseUtcTimestamp = true;
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                // One line per entry, as log shippers read them.
                json.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
            });
        }
        if (telemetry.Exporters.Count == 0 && !telemetry.Prometheus.Enabled) return;
        // Logs, traces and metrics go to the same collector; unset, OpenTelemetry's default (or its environment) applies.
        void Otlp(OpenTelemetry.Exporter.OtlpExporterOptions o)
        {
            if (!string.IsNullOrEmpty(telemetry.OtlpEndpoint)) o.Endpoint = new Uri(telemetry.OtlpEndpoint);
        }
        if (telemetry.Uses("otlp"))
        {
            builder.Logging.AddOpenTelemetry(logs =>
            {
                logs.IncludeFormattedMessage = true;
                logs.AddOtlpExporter(Otlp);
            });
        }
        builder.Services.AddOpenTelemetry()
            // A collector tells silos from bridges, and one region's silos from another's, by these.
            .ConfigureResource(resource => resource
                .AddService(MeshTelemetry.SiloServiceName, serviceInstanceId: $"{silo.ClusterId}/{Environment.MachineName}:{silo.SiloPort}")
                .AddAttributes([new(MeshTelemetry.Tags.Region, silo.ClusterId)]))
            .WithTracing(tracing =>
            {
                // Metrics alone (Prometheus) need no spans: with no trace exporter nobody would read one, and each
                // request would still record several. In-process listeners (dotnet-trace) still see the activities.
                if (!telemetry.Uses("console") && !telemetry.Uses("otlp")) return;
                // HTTP and gRPC requests (with the caller's traceparent header), then the mesh's own spans and Orleans'.
                tracing.AddAspNetCoreInstrumentation(o => o.Filter = http => !http.Request.Path.StartsWithSegments(telemetry.Prometheus.Path));
                tracing.AddSource(MeshTelemetry.SourceName, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application");
                if (telemetry.Uses("console")) tracing.AddConsoleExporter();
                if (telemetry.Uses("otlp")) tracing.AddOtlpExporter(Otlp);
            })
            .WithMetrics(metrics =>
            {
                // Orleans' own meter sits beside the mesh's, so one scrape shows both.
                metrics.AddMeter(MeshTelemetry.MeterName, "Microsoft.Orleans");
                // AddMeter matches by name across the process; both meters come from this host's IMeterFactory, so
                // instruments of any other factory (a second silo hosted in the same process) are dropped: they would
                // add that silo's figures to these, and its shutdown would end these metric streams.
                ((IDeferredMeterProviderBuilder)metrics).Configure((services, provider) =>
                {
                    var meters = services.GetRequiredService<IMeterFactory>();
                    provider.AddView(instrument => instrument.Meter.Scope is IMeterFactory owner && !ReferenceEquals(owner, meters)
                        ? MetricStreamConfiguration.Drop
                        : null);
                });
                if (telemetry.Prometheus.Enabled) metrics.AddPrometheusExporter();
                if (telemetry.Uses("console")) metrics.AddConsoleExporter();
                if (telemetry.Uses("otlp")) metrics.AddOtlpExporter(Otlp);
            });
    }

    private static T BindAndValidate<T>(IConfiguration configuration, string section) where T : class, IValidatedOptions, new()
    {
        var options = new T();
        configuration.GetSection(section).Bind(options);
        var errors = options.Validate().ToList();
        if (errors.Count > 0)
            throw new OptionsValidationException(section, typeof(T), errors);
        return options;
    }

    /// <summary>
    /// True for the errors a bad setting causes: a failed validation, or a value the binder could not convert
    /// (its message names the key, e.g. "Failed to convert configuration value at 'Mesh:Silo:GatewayPort'").
    /// </summary>
    public static bool IsConfigurationError(Exception e) =>
        e is OptionsValidationException
        || (e is InvalidOperationException && e.Message.Contains("configuration value", StringComparison.OrdinalIgnoreCase));

    /// <summary>Prints where the silo listens once it accepts calls; scripts and tests wait for this line.</summary>
    private sealed class ReadyReporter(
        IHostApplicationLifetime lifetime,
        IOptions<SiloOptions> silo,
        IOptions<GatewayOptions> gateway,
        IOptions<StorageOptions> storage) : IHostedService
    {
        public const string ReadyLine = "Mesh silo ready:";

        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStarted.Register(() =>
            {
                var s = silo.Value;
                var g = gateway.Value;
                var scheme = g.UsesTls ? "https" : "http";
                var grpc = g.GrpcPort == 0 ? "off" : $"{g.Address}:{g.GrpcPort}";
                Console.WriteLine($"{ReadyLine} cluster '{s.ClusterId}', orleans gateway 127.0.0.1:{s.GatewayPort}, silo port {s.SiloPort}, " +
                                  $"http {scheme}://{g.Address}:{g.HttpPort}/v2, grpc {grpc}, data {storage.Value.FullDataDirectory}");
                Console.WriteLine($"Mesh trust: {Trust(s, g)}");
                Console.Out.Flush();
            });
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        // The trust model in one line, so an operator sees at start what the ports take (README: "Trust model").
        private static string Trust(SiloOptions s, GatewayOptions g)
        {
            var keys = g.ApiKeys.Count == 0
                ? "no API keys: every caller of HTTP, gRPC and the Orleans gateway may do everything"
                : $"{g.ApiKeys.Count} API key(s) asked on HTTP, gRPC and the Orleans gateway";
            var orleans = s.Tls.Enabled ? "mutual TLS on the silo port, the Orleans gateway and region links" : "Orleans connections in plaintext";
            var loopback = System.Net.IPAddress.IsLoopback(System.Net.IPAddress.Parse(s.AdvertisedAddress)) && System.Net.IPAddress.IsLoopback(System.Net.IPAddress.Parse(g.Address));
            var reach = loopback ? "loopback only (127.0.0.1): nothing is reachable from another machine" : "reachable from the network";
            var warning = !loopback && (g.ApiKeys.Count == 0 || !s.Tls.Enabled || !g.UsesTls) ? " WARNING: a networked mesh needs API keys, Mesh:Silo:Tls and Mesh:Gateway:CertificatePath" : "";
            return $"{reach}; {keys}; {orleans}; HTTP/gRPC {(g.UsesTls ? "over TLS" : "in plaintext")}.{warning}";
        }
    }
}
