using Mesh.Silo.Gateway;
using Orleans.Dashboard;

namespace Mesh.Silo.Hosting;

/// <summary>The silo's whole application: what Program runs and what the gateway tests start in-process.</summary>
public static class MeshSiloApp
{
    public const string DashboardPath = "/dashboard";

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
        // Grain states and live logs are among its views: admin only. Its page's scripts cannot send a bearer key,
        // so the browser is asked for one (HTTP Basic, the key as the password) and sends it with every call.
        if (telemetry.OrleansDashboard)
            app.MapOrleansDashboard(DashboardPath).RequireAuthorization(Gateway.GatewayRoles.Admin).WithMetadata(new BrowserLogin());
        return app;
    }
}
