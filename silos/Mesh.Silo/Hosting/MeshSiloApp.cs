using Mesh.Silo.Gateway;

namespace Mesh.Silo.Hosting;

/// <summary>The silo's whole application: what Program runs and what the gateway tests start in-process.</summary>
public static class MeshSiloApp
{
    public static WebApplication Create(string[] args, Action<IConfigurationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        configure?.Invoke(builder.Configuration);
        builder.AddMeshSilo();
        var app = builder.Build();
        app.MapMeshGateway();
        Operations.ConsoleEndpoints.MapConsole(app);
        var telemetry = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Configuration.TelemetryOptions>>().Value;
        if (telemetry.Prometheus.Enabled)
            app.MapPrometheusScrapingEndpoint(telemetry.Prometheus.Path).RequireAuthorization(Gateway.GatewayRoles.Infer);
        return app;
    }
}
