using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Mesh.IntegrationTests.Infrastructure;
using Microsoft.Playwright;

namespace Mesh.IntegrationTests.Operations;

/// <summary>
/// The console in a real browser (Debian's chromium driven by Playwright) against two region processes with
/// traffic and a device: what it shows must equal the mesh's own counters (its Prometheus scrape and CLI).
/// </summary>
[Trait("Category", "Process"), Trait("Category", "Browser")]
public class ConsoleBrowserTests : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    // The machine's network is closed: without these, chromium keeps dialling Google's hosts.
    public static readonly string[] ChromiumArgs = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private const string InferKey = "mesh_console_test_infer_key";
    private const string AdminKey = "mesh_console_test_admin_key";
    private readonly Region _east = new("east");
    private readonly Region _west = new("west");
    private MeshProcess? _eastSilo, _westSilo;

    private sealed class Region(string name)
    {
        public string Name { get; } = name;
        public int Gateway { get; } = MeshProcess.FreePort();
        public int Http { get; } = MeshProcess.FreePort();
        public string Data { get; } = Path.Combine(Path.GetTempPath(), "mesh-tests", $"console-{name}-{Guid.NewGuid():N}");
        public string Url => $"http://127.0.0.1:{Http}";

        public MeshProcess Start(Region peer, bool sample) => MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [],
            new Dictionary<string, string>(MeshProcess.RegionSiloSettings(Name, Gateway, Http, Data, peer.Name, peer.Gateway))
            {
                ["Mesh__Silo__DeploySampleModel"] = sample ? "true" : "false",
                ["Mesh__Gateway__ApiKeys__0__Name"] = "viewer",
                ["Mesh__Gateway__ApiKeys__0__Role"] = "infer",
                ["Mesh__Gateway__ApiKeys__0__Sha256"] = Hash(InferKey),
                ["Mesh__Gateway__ApiKeys__1__Name"] = "operator",
                ["Mesh__Gateway__ApiKeys__1__Role"] = "admin",
                ["Mesh__Gateway__ApiKeys__1__Sha256"] = Hash(AdminKey),
                // With keys on, a region's link presents an admin key to its peer as any Orleans client does.
                ["Mesh__Regions__PeerApiKey"] = AdminKey,
            });

        public Task<(int ExitCode, string Stdout, string Stderr)> Mesh(params string[] args) =>
            MeshProcess.RunCliAsync(new Dictionary<string, string> { ["MESH_API_KEY"] = AdminKey }, [.. args, "--gateway", $"127.0.0.1:{Gateway}", "--cluster", Name]);

        public HttpClient Client(string key)
        {
            var http = new HttpClient { BaseAddress = new Uri(Url) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            return http;
        }
    }

    private static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public async Task InitializeAsync()
    {
        _eastSilo = _east.Start(_west, sample: true);
        _westSilo = _west.Start(_east, sample: false);
        await Task.WhenAll(_eastSilo.WaitForOutputAsync("Mesh silo ready:", StartTimeout), _westSilo.WaitForOutputAsync("Mesh silo ready:", StartTimeout));
    }

    public async Task DisposeAsync()
    {
        if (_eastSilo is not null) await _eastSilo.DisposeAsync();
        if (_westSilo is not null) await _westSilo.DisposeAsync();
        foreach (var data in new[] { _east.Data, _west.Data })
        {
            try { Directory.Delete(data, recursive: true); } catch (IOException) { }
        }
    }

    private static readonly string Zeros = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", new float[64])}}]}]}""";

    private static async Task PredictAsync(HttpClient http, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var content = new StringContent(Zeros, Encoding.UTF8, "application/json");
            using var response = await http.PostAsync("/v2/models/mlp/infer", content);
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> done, TimeSpan within, string what)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < within)
        {
            if (await done()) return;
            await Task.Delay(200);
        }
        Assert.Fail($"{what} within {within}");
    }

    /// <summary>Sums a series' samples whose labels include every pair given.</summary>
    private static double Sum(string scrape, string series, params (string Label, string Value)[] labels) =>
        scrape.Split('\n')
            .Where(l => l.StartsWith(series + "{", StringComparison.Ordinal) && labels.All(p => l.Contains($"{p.Label}=\"{p.Value}\"", StringComparison.Ordinal)))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    [Fact]
    public async Task The_console_shows_the_regions_numbers_as_the_mesh_counts_them_refreshes_live_and_acts_only_with_an_admin_key()
    {
        Assert.True(File.Exists(Chromium), $"the console test drives Debian's chromium at {Chromium}: apt-get install chromium (.ci/run installs it)");
        using var eastHttp = _east.Client(InferKey);
        using var westHttp = _west.Client(InferKey);
        // The sample is deployed in east and replicates to west.
        await WaitUntilAsync(async () => (await westHttp.GetAsync("/v2/models/mlp/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "mlp did not reach west");
        await PredictAsync(eastHttp, 40);
        await PredictAsync(westHttp, 15);
        var registered = await _east.Mesh("devices", "register", "cam-1", "--home", "east", "--model", "mlp");
        Assert.True(registered.ExitCode == 0, registered.Stderr);
        var token = MeshProcess.DeviceToken(registered.Stdout);
        using (var sync = new HttpRequestMessage(HttpMethod.Post, "/v2/devices/cam-1/sync"))
        {
            sync.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            sync.Content = new ByteArrayContent(Mesh.Protocol.DeviceSyncJson.WriteBatch(new Mesh.Abstractions.Grains.DeviceSyncBatch(
                [
                    new Mesh.Abstractions.Grains.DeviceResult(1, "mlp", 1, DateTimeOffset.UtcNow, "edge", null, [TestModels.MlpInput(1)]),
                    new Mesh.Abstractions.Grains.DeviceResult(2, "mlp", 1, DateTimeOffset.UtcNow, "edge", null, [TestModels.MlpInput(1)]),
                ],
                Reported: new Dictionary<string, string?> { ["outbox.depth"] = "7" })));
            using var synced = await eastHttp.SendAsync(sync);
            Assert.True(synced.IsSuccessStatusCode, await synced.Content.ReadAsStringAsync());
        }
        // A second version, not the default, for the admin to promote.
        var retrained = Path.Combine(_east.Data, "mlp-v2.onnx");
        await File.WriteAllBytesAsync(retrained, Mesh.SampleModels.MlpModel.Build(new Mesh.SampleModels.MlpModel.Options(Seed: 5)));
        var deployed = await _east.Mesh("deploy", "mlp", retrained, "--no-default");
        Assert.True(deployed.ExitCode == 0, deployed.Stderr);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ChromiumArgs,
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1100 } });
        await page.GotoAsync(_east.Url + "/console");

        // Keys are configured: without one the console says what it needs.
        await Assertions.Expect(page.Locator("#error")).ToContainTextAsync("API key");
        await page.FillAsync("#key", InferKey);
        await page.ClickAsync("#key-form button");
        await Assertions.Expect(page.Locator("[data-test=region]")).ToHaveTextAsync("region east");
        await Assertions.Expect(page.Locator("[data-test=mode]")).ToHaveTextAsync("read-only");

        // Traffic, cold starts and sessions: the scrape of the same region, taken when the page shows them.
        await Assertions.Expect(page.Locator("[data-test=requests-mlp]")).ToHaveTextAsync("40", new() { Timeout = 15_000 });
        var scrape = await eastHttp.GetStringAsync("/metrics");
        Assert.Equal(40, Sum(scrape, "mesh_predict_requests_total", ("mesh_model", "mlp")));
        Assert.Equal(Sum(scrape, "mesh_cold_starts_total", ("mesh_model", "mlp")).ToString(CultureInfo.InvariantCulture),
            await page.Locator("[data-test=cold-starts-mlp]").TextContentAsync());
        Assert.Equal(Sum(scrape, "mesh_sessions_loaded").ToString(CultureInfo.InvariantCulture), await page.Locator("#silos").GetAttributeAsync("data-sessions"));
        Assert.Equal("0", await page.Locator("[data-test=failures-mlp]").TextContentAsync());

        // The peer region and its link.
        await Assertions.Expect(page.Locator("[data-test=peer-west]")).ToHaveTextAsync("west");
        await Assertions.Expect(page.Locator("[data-test=peer-state-west]")).ToHaveTextAsync("up", new() { Timeout = 15_000 });
        // The series of a region with peers (docs/operations.md: "with peer regions"): the link east -> west is up
        // and has shipped; west measured how late east's events arrived.
        scrape = await eastHttp.GetStringAsync("/metrics");
        Assert.Equal(1, Sum(scrape, "mesh_replication_peer_up", ("mesh_region_peer", "west")));
        Assert.True(Sum(scrape, "mesh_replication_events_total", ("mesh_region_peer", "west")) > 0);
        Assert.Contains("mesh_replication_behind{", scrape);
        Assert.Contains("mesh_replication_lag_milliseconds_bucket{", await westHttp.GetStringAsync("/metrics"));

        // The device: results and outbox as the mesh holds them.
        var device = (await _east.Mesh("device", "cam-1")).Stdout;
        Assert.Contains("outbox.depth = 7", device);
        await Assertions.Expect(page.Locator("[data-test=outbox-cam-1]")).ToHaveTextAsync("7");
        await Assertions.Expect(page.Locator("[data-test=results-cam-1]")).ToHaveTextAsync("2");

        // Models and versions; no actions without an admin key.
        await Assertions.Expect(page.Locator("[data-test=default-mlp]")).ToHaveTextAsync("v1");
        await Assertions.Expect(page.Locator("[data-test=versions-mlp]")).ToContainTextAsync("v2");
        Assert.Equal(0, await page.Locator("button.promote").CountAsync());

        // Live: more traffic shows up without a reload.
        await PredictAsync(eastHttp, 10);
        await Assertions.Expect(page.Locator("[data-test=requests-mlp]")).ToHaveTextAsync("50", new() { Timeout = 15_000 });
        Assert.Equal(50, Sum(await eastHttp.GetStringAsync("/metrics"), "mesh_predict_requests_total", ("mesh_model", "mlp")));

        var screenshot = Path.Combine(MeshProcess.RepositoryRoot, "TestResults", "console-east.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        Assert.True(new FileInfo(screenshot).Length > 10_000);

        // The action is refused to an infer key whatever the page shows.
        using (var refused = await eastHttp.PostAsync("/console/api/models/mlp/promote/2", null))
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, refused.StatusCode);

        // An admin key turns the actions on; promoting from the page is what the mesh then serves.
        await page.FillAsync("#key", AdminKey);
        await page.ClickAsync("#key-form button");
        await Assertions.Expect(page.Locator("[data-test=mode]")).ToHaveTextAsync("admin: actions on");
        await page.ClickAsync("[data-test=promote-mlp-2]");
        await Assertions.Expect(page.Locator("[data-test=default-mlp]")).ToHaveTextAsync("v2", new() { Timeout = 10_000 });
        Assert.Contains("model mlp, default version 2", (await _east.Mesh("model", "mlp")).Stdout);
    }
}
