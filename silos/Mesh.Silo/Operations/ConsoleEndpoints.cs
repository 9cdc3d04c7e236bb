using System.Reflection;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Events;
using Mesh.Client;
using Mesh.Silo.Gateway;
using Orleans.Runtime;

namespace Mesh.Silo.Operations;

/// <summary>
/// The Mesh console: a page (static files built into the silo, no front-end build) that polls one JSON overview
/// of this region: its replication links, models, every active silo's sessions and traffic, the edge fleet and
/// drift. Reading needs what a predict needs (an infer key when keys are configured); the one action, promoting a
/// version, needs an admin key given in the page, so the console is read-only unless one is.
/// </summary>
public static class ConsoleEndpoints
{
    private static readonly Dictionary<string, string> Files = new(StringComparer.Ordinal)
    {
        ["index.html"] = "text/html; charset=utf-8",
        ["console.js"] = "text/javascript; charset=utf-8",
        ["console.css"] = "text/css; charset=utf-8",
    };

    public static WebApplication MapConsole(this WebApplication app)
    {
        // Routing matches /console and /console/ alike.
        app.MapGet("/console", () => File("index.html")).AllowAnonymous();
        app.MapGet("/console/{file}", (string file) => Files.ContainsKey(file) ? File(file) : Results.NotFound()).AllowAnonymous();
        app.MapGet("/console/api/overview", OverviewAsync).RequireAuthorization(GatewayRoles.Infer);
        app.MapPost("/console/api/models/{model}/promote/{version:int}", PromoteAsync).RequireAuthorization(GatewayRoles.Admin);
        return app;
    }

    private static IResult File(string name)
    {
        var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Mesh.Silo.Console." + name)
                     ?? throw new InvalidOperationException($"the console file {name} is not built into the silo");
        return Results.Stream(stream, Files[name]);
    }

    // An admin key was given (not just the open development mesh letting every caller in).
    private static bool IsAdmin(HttpContext http) =>
        http.User.IsInRole(GatewayRoles.Admin) && http.Request.Headers.Authorization.Count > 0;

    private static async Task<IResult> PromoteAsync(HttpContext http, string model, int version, MeshClient mesh)
    {
        if (!IsAdmin(http))
            return Results.Json(new { error = "promoting from the console needs an admin key (Authorization: Bearer <key>)" }, statusCode: StatusCodes.Status403Forbidden);
        MeshActor.Set(GatewayHosting.CallerOf(http.User));
        var info = await mesh.PromoteAsync(model, version);
        return Results.Json(new { model = info.Name, defaultVersion = info.DefaultVersion });
    }

    private static async Task<IResult> OverviewAsync(HttpContext http, MeshClient mesh, IGrainFactory grains)
    {
        var regionTask = mesh.GetRegionStatusAsync();
        var modelsTask = mesh.ListModelsAsync();
        var devicesTask = mesh.ListDevicesAsync();
        var fleetsTask = mesh.ListFleetSummariesAsync();
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        var silos = (await Task.WhenAll(hosts.Keys.Select(h => grains.GetGrain<ISiloStatsGrain>(h.ToParsableString()).GetAsync())))
            .OfType<SiloStats>().OrderBy(s => s.Silo, StringComparer.Ordinal).ToArray();
        var (region, models, devices, fleets) = (await regionTask, await modelsTask, await devicesTask, await fleetsTask);

        var traffic = silos.SelectMany(s => s.Models).GroupBy(m => m.Model, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new
            {
                model = g.Key,
                requests = g.Sum(m => m.Requests),
                failures = g.Sum(m => m.Failures),
                coldStarts = g.Sum(m => m.ColdStarts),
                requestsPerSecond = g.Sum(m => m.RequestsPerSecond),
                // Percentiles do not add up across silos: the slowest silo's is the honest cluster figure.
                p50Ms = g.Max(m => m.P50Ms),
                p99Ms = g.Max(m => m.P99Ms),
            });
        return Results.Json(new
        {
            region = region.Name,
            at = DateTimeOffset.UtcNow,
            admin = IsAdmin(http),
            head = region.HeadPosition,
            peers = region.Peers.Select(p => new
            {
                name = p.Peer, shipped = p.ShippedPosition, head = p.HeadPosition, behind = Math.Max(0, p.HeadPosition - p.ShippedPosition),
                lastShippedAt = p.LastShippedAt, lastError = p.LastError, paused = p.Paused, events = p.EventsShipped,
            }),
            failovers = (region.FailoversTaken ?? []).Select(f => new { from = f.From, predicts = f.Predicts, lastAt = f.LastAt }),
            silos,
            traffic,
            models = models.OrderBy(m => m.Name, StringComparer.Ordinal).Select(m => new
            {
                name = m.Name,
                defaultVersion = m.DefaultVersion,
                shadow = m.ShadowVersion,
                shadowAgreement = m.ShadowVersion is int s && ShadowTally.Sum(s, SiloStats.ShadowTallies(silos, m.Name)) is var t
                    ? new { version = s, agreed = t.Agreed, compared = t.Compared, errors = t.Errors, agreement = t.Agreement, text = t.Describe() }
                    : null,
                traffic = m.Traffic,
                regions = m.Regions,
                versions = m.Versions.Select(v => new
                {
                    version = v.Version, retired = v.Retired, bytes = v.ArtifactBytes, registeredAt = v.RegisteredAt,
                    parent = v.Lineage?.ParentVersion, optimization = v.Lineage?.Optimization,
                }),
            }),
            devices = devices.OrderBy(d => d.Id, StringComparer.Ordinal).Select(d => new
            {
                id = d.Id, home = d.HomeRegion, models = d.Models,
                outboxDepth = d.Reported.TryGetValue("outbox.depth", out var depth) && long.TryParse(depth, out var n) ? n : (long?)null,
                lastSyncAt = d.Sync?.LastSyncAt, results = d.Sync?.Results ?? 0, lost = d.Sync?.Lost ?? 0, drifting = d.Drifting ?? [],
            }),
            fleets,
            drift = fleets.SelectMany(f => f.Models.Where(m => m.Drifting > 0).Select(m => new { region = f.Region, model = m.Model, drifting = m.Drifting, devices = m.Devices })),
        }, ConsoleJson.Options);
    }
}

internal static class ConsoleJson
{
    public static readonly System.Text.Json.JsonSerializerOptions Options = new(System.Text.Json.JsonSerializerDefaults.Web);
}
