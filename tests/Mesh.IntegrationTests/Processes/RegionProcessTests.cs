using System.Diagnostics;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Client;
using Mesh.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Mesh.SampleModels;

namespace Mesh.IntegrationTests.Processes;

/// <summary>
/// Two regions, each its own Orleans cluster in its own silo process with its own storage, naming each other as
/// peers: what is written in one reaches the other, and concurrent writes converge.
/// </summary>
[Trait("Category", "Process"), Collection(RegionTimingCollection.Name)]
public class RegionProcessTests : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly Region _east = new("east");
    private readonly Region _west = new("west");
    private MeshProcess? _eastSilo, _westSilo;

    /// <summary>
    /// A region: one silo process whose Orleans gateway is reached, by peers and clients alike, through a
    /// <see cref="TcpLink"/> (the network in front of it), so a test can cut the region off; its HTTP API is direct.
    /// </summary>
    private sealed class Region
    {
        private readonly int _gatewayListen = MeshProcess.FreePort();

        public Region(string name)
        {
            (Name, Front) = (name, new TcpLink(_gatewayListen));
            Data = Path.Combine(Path.GetTempPath(), "mesh-tests", $"region-{name}-{Guid.NewGuid():N}");
        }

        public string Name { get; }
        public TcpLink Front { get; }
        public int SiloPort { get; } = MeshProcess.FreePort();
        public int Http { get; } = MeshProcess.FreePort();
        public string Data { get; }
        public int Gateway => Front.Port;

        public MeshProcess Start(Region peer) => MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [],
            new Dictionary<string, string>(MeshProcess.RegionSiloSettings(Name, Gateway, Http, Data, peer.Name, peer.Gateway))
            {
                ["Mesh__Silo__SiloPort"] = SiloPort.ToString(),
                ["Mesh__Silo__GatewayListenPort"] = _gatewayListen.ToString(),
                ["Mesh__Silo__DeploySampleModel"] = "false",
            });

        public Task<(int ExitCode, string Stdout, string Stderr)> Mesh(params string[] args) =>
            MeshProcess.RunCliAsync([.. args, "--gateway", $"127.0.0.1:{Gateway}", "--cluster", Name]);

        /// <summary>An SDK client of this region, in a host of its own.</summary>
        public async Task<(IHost Host, MeshClient Client)> ConnectAsync()
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.AddMeshClient(o => (o.Gateways, o.ClusterId, o.ClientId) = ([$"127.0.0.1:{Gateway}"], Name, "test-" + Name));
            var host = builder.Build();
            await host.StartAsync();
            return (host, host.Services.GetRequiredService<MeshClient>());
        }
    }

    public async Task InitializeAsync()
    {
        _eastSilo = _east.Start(_west);
        _westSilo = _west.Start(_east);
        await Task.WhenAll(_eastSilo.WaitForOutputAsync("Mesh silo ready:", StartTimeout), _westSilo.WaitForOutputAsync("Mesh silo ready:", StartTimeout));
    }

    public async Task DisposeAsync()
    {
        if (_eastSilo is not null) await _eastSilo.DisposeAsync();
        if (_westSilo is not null) await _westSilo.DisposeAsync();
        await _east.Front.DisposeAsync();
        await _west.Front.DisposeAsync();
        foreach (var data in new[] { _east.Data, _west.Data })
        {
            try { Directory.Delete(data, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<string> LinksAsync(Region region)
    {
        var status = await region.Mesh("regions");
        return status.Stdout + status.Stderr;
    }

    private async Task<string> WaitForAsync(Region region, string[] args, string expected, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        var last = "";
        while (deadline.Elapsed < within)
        {
            var result = await region.Mesh(args);
            last = result.Stdout + result.Stderr;
            if (result.ExitCode == 0 && result.Stdout.Contains(expected)) return result.Stdout;
        }
        Assert.Fail($"region {region.Name}: `mesh {string.Join(' ', args)}` did not show '{expected}' within {within}; last: {last}\n" +
                    $"links: {await LinksAsync(_east)}{await LinksAsync(_west)}");
        return "";
    }

    [Fact]
    public async Task A_deploy_in_one_region_serves_in_the_other_within_a_second()
    {
        var (eastHost, east) = await _east.ConnectAsync();
        var (westHost, west) = await _west.ConnectAsync();
        using (eastHost)
        using (westHost)
        {
            // Both links are up (a first deploy warms them), so what is measured is replication, not connecting.
            await east.DeployAsync("warm", MlpModel.Build(new MlpModel.Options(Seed: 9)));
            await WaitForModelAsync(west, "warm", TimeSpan.FromSeconds(15));

            await east.DeployAsync("fast", MlpModel.Build(new MlpModel.Options(Seed: 10)));
            var elapsed = await WaitForModelAsync(west, "fast", TimeSpan.FromSeconds(5));
            var answer = await west.PredictAsync(new PredictRequest("fast", [TestModels.MlpInput(1)]));

            Assert.True(elapsed < TimeSpan.FromSeconds(1), $"the model reached the other region after {elapsed.TotalMilliseconds:F0} ms");
            Assert.Equal(1, answer.Version);
            Assert.Equal((await east.GetModelAsync("fast")).Versions.Single().ArtifactSha256, (await west.GetModelAsync("fast")).Versions.Single().ArtifactSha256);

            // Usage is counted in each region and summed everywhere: both regions see both callers' counts.
            for (var i = 0; i < 3; i++) await east.PredictAsync(new PredictRequest("fast", [TestModels.MlpInput(2)]));
            string Usage(Mesh.Abstractions.Models.UsageRecord[] records) =>
                string.Join(",", records.Where(r => r.Caller.StartsWith("test-", StringComparison.Ordinal)).OrderBy(r => r.Caller).Select(r => $"{r.Caller}={r.Requests}/{r.Rows}"));
            var watch = Stopwatch.StartNew();
            string eastUsage = "", westUsage = "";
            while (watch.Elapsed < TimeSpan.FromSeconds(20))
            {
                (eastUsage, westUsage) = (Usage(await east.GetUsageAsync()), Usage(await west.GetUsageAsync()));
                if (eastUsage == "test-east=3/6,test-west=1/1" && westUsage == eastUsage) break;
                await Task.Delay(100);
            }
            Assert.Equal("test-east=3/6,test-west=1/1", eastUsage);
            Assert.Equal(eastUsage, westUsage);
        }
    }

    [Fact]
    public async Task A_model_pinned_to_one_region_never_reaches_the_other_which_refuses_its_predicts()
    {
        var pinnedBytes = MlpModel.Build(new MlpModel.Options(Seed: 21));
        var pinnedFile = Path.Combine(Path.GetTempPath(), $"mesh-pinned-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(pinnedFile, pinnedBytes);
        try
        {
            var deploy = await _east.Mesh("deploy", "pinned", pinnedFile, "--region", "east");
            Assert.True(deploy.ExitCode == 0, deploy.Stderr);
            Assert.Contains("residency: east", (await _east.Mesh("model", "pinned")).Stdout);
            // A model deployed after it reaching the west means the link has gone past the pinned one's events.
            Assert.Equal(0, (await _east.Mesh("deploy", "after", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
            await WaitForAsync(_west, ["models"], "after", TimeSpan.FromSeconds(15));

            var refused = await _west.Mesh("predict", "pinned", "--input", "input=1x64:" + string.Join(",", new float[64]));
            Assert.Equal(1, refused.ExitCode);
            Assert.Equal("error: model 'pinned' is pinned to region(s) east; region 'west' does not hold or serve it", refused.Stderr.Trim());
            using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_west.Http}") })
            {
                var body = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", new float[64])}}]}]}""";
                using var answer = await http.PostAsync("v2/models/pinned/infer", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
                Assert.Equal(System.Net.HttpStatusCode.Forbidden, answer.StatusCode);
            }
            var westEvents = await _west.Mesh("events", "tail", "--stream", "model/pinned", "--json");
            Assert.Equal("", westEvents.Stdout.Trim());
            var sha = Mesh.Grains.Storage.ArtifactHash.Of(pinnedBytes);
            Assert.True(File.Exists(Path.Combine(_east.Data, "artifacts", "sha256", sha[..2], sha + ".onnx")));
            Assert.False(File.Exists(Path.Combine(_west.Data, "artifacts", "sha256", sha[..2], sha + ".onnx")));
            // A name no region holds is just not deployed, answered at once (the peers are asked, not asked back).
            var nowhere = await _west.Mesh("model", "nowhere");
            Assert.Equal("error: model 'nowhere' is not deployed", nowhere.Stderr.Trim());
            var misplaced = await _west.Mesh("deploy", "elsewhere", pinnedFile, "--region", "east");
            Assert.Equal(1, misplaced.ExitCode);
            Assert.Contains("is pinned to region(s) east; region 'west' does not hold or serve it", misplaced.Stderr);
        }
        finally
        {
            File.Delete(pinnedFile);
        }
    }

    [Fact]
    public async Task When_a_region_dies_predicts_move_to_the_next_within_the_hedge_delay_and_come_back_when_it_returns_over_several_kills()
    {
        var (westHost, westClient) = await _west.ConnectAsync();
        using var westLifetime = westHost;
        Assert.Equal(0, (await _east.Mesh("deploy", "steady", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
        await WaitForModelAsync(westClient, "steady", TimeSpan.FromSeconds(15));
        var options = new MeshRegionsOptions
        {
            Regions =
            [
                new MeshRegionEndpoint { Name = "east", Gateways = [$"127.0.0.1:{_east.Gateway}"] },
                new MeshRegionEndpoint { Name = "west", Gateways = [$"127.0.0.1:{_west.Gateway}"] },
            ],
            HedgeDelay = TimeSpan.FromMilliseconds(100),
            CallTimeout = TimeSpan.FromSeconds(2),
            RecoveryProbeInterval = TimeSpan.FromMilliseconds(250),
            ProbeInterval = TimeSpan.FromMilliseconds(300),
        };
        await using var mesh = await MeshRegions.ConnectAsync(options);

        // Steady load from sixteen callers, bounded in time; every predict must be answered by some region.
        var served = new System.Collections.Concurrent.ConcurrentQueue<(TimeSpan At, string Region)>();
        var failed = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var load = Enumerable.Range(0, 16).Select(caller => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try { served.Enqueue((clock.Elapsed, (await mesh.PredictAsync(new PredictRequest("steady", [TestModels.MlpInput(1)]))).Region)); }
                catch (Exception e) { failed.Enqueue(e.Message); }
                await Task.Delay(5);
            }
        })).ToList();

        async Task<TimeSpan> UntilServedByAsync(string region, TimeSpan after)
        {
            while (!stop.IsCancellationRequested)
            {
                if (served.Any(s => s.At > after && s.Region == region)) return served.First(s => s.At > after && s.Region == region).At;
                await Task.Delay(10);
            }
            throw new TimeoutException($"no predict served by {region} after {after}");
        }

        // The bound a failover must meet, from the settings: the hedge delay, plus room for this shared 2-core machine.
        var bound = options.HedgeDelay!.Value + TimeSpan.FromMilliseconds(900);
        var firstAnswers = new List<TimeSpan>();
        var longestGaps = new List<TimeSpan>();
        for (var kill = 0; kill < 3; kill++)
        {
            await UntilServedByAsync("east", clock.Elapsed);
            var killedAt = clock.Elapsed;
            await _eastSilo!.DisposeAsync();   // kill -9: every silo of the region
            var movedAt = await UntilServedByAsync("west", killedAt);
            firstAnswers.Add(movedAt - killedAt);
            // A write while east is down goes to west; east catches up on it when it returns.
            await (await mesh.ForWritesAsync()).SetPolicyAsync("steady", new Mesh.Abstractions.Models.ServingPolicy(MaxBatchSize: 7 + kill));
            await Task.Delay(1000);
            var answers = served.Where(s => s.At > killedAt).Select(s => s.At).Order().Prepend(killedAt).ToArray();
            longestGaps.Add(answers.Zip(answers.Skip(1), (a, b) => b - a).Max());
            _eastSilo = _east.Start(_west);
            await _eastSilo.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
            await UntilServedByAsync("east", clock.Elapsed);
            var (eastHost, eastClient) = await _east.ConnectAsync();
            using (eastHost)
            {
                var watch = Stopwatch.StartNew();
                while ((await eastClient.GetModelAsync("steady")).ServingPolicy.MaxBatchSize != 7 + kill && watch.Elapsed < TimeSpan.FromSeconds(15)) await Task.Delay(100);
                Assert.Equal(7 + kill, (await eastClient.GetModelAsync("steady")).ServingPolicy.MaxBatchSize);
            }
        }
        stop.Cancel();
        await Task.WhenAll(load);

        Assert.Empty(failed);
        var report = $"first answer from west after each kill: {string.Join(", ", firstAnswers.Select(t => $"{t.TotalMilliseconds:F0} ms"))}; " +
                     $"longest gap: {string.Join(", ", longestGaps.Select(t => $"{t.TotalMilliseconds:F0} ms"))}; bound {bound.TotalMilliseconds:F0} ms";
        Assert.True(firstAnswers.All(t => t < bound), report);
        Assert.True(longestGaps.All(t => t < bound), report);
        // The client hands its failover counts to the region that took them; `mesh regions` there shows the same.
        Assert.True(mesh.Failovers > 0);
        var failovers = mesh.Failovers;
        await mesh.DisposeAsync();
        Assert.Contains($"failovers taken over: from east {failovers} ", (await _west.Mesh("regions")).Stdout);
        Assert.Contains("failovers taken over: none", (await _east.Mesh("regions")).Stdout);
    }

    [Fact]
    public async Task The_command_line_spreads_predicts_over_regions_and_they_continue_when_one_dies()
    {
        Assert.Equal(0, (await _east.Mesh("deploy", "spread", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
        var (westHost, westClient) = await _west.ConnectAsync();
        using (westHost) await WaitForModelAsync(westClient, "spread", TimeSpan.FromSeconds(15));
        var regions = $"east=127.0.0.1:{_east.Gateway},west=127.0.0.1:{_west.Gateway}";
        var input = "input=1x64:" + string.Join(",", new float[64]);

        var predicted = await MeshProcess.RunCliAsync("predict", "spread", "--input", input, "--regions", regions);
        Assert.True(predicted.ExitCode == 0, predicted.Stderr);
        Assert.Contains("answered by region east", predicted.Stderr);
        var refused = await MeshProcess.RunCliAsync("deploy", "spread", TestModels.PathOf("mlp-small.onnx"), "--regions", regions);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("'deploy' does not span regions", refused.Stderr);

        // A bench of 8 s through both regions; east is killed 3 s in, and no predict may fail.
        await using var bench = MeshProcess.Start(MeshProcess.BuiltAssembly("clients/Mesh.Cli", "mesh.dll"), ["bench", "spread", "--regions", regions, "-c", "4", "-d", "8"]);
        await Task.Delay(3000);
        await _eastSilo!.DisposeAsync();
        await bench.WaitForOutputAsync("answered by:", TimeSpan.FromSeconds(60));
        await Task.Delay(200);
        var output = bench.Stdout;
        Assert.Matches(@"regions\s+4\s+\d+\s+0\s", output);   // no errors
        var answered = System.Text.RegularExpressions.Regex.Match(output, @"answered by: east (\d+), west (\d+); failovers: (\d+)");
        Assert.True(answered.Success, output);
        Assert.True(long.Parse(answered.Groups[1].Value) > 0 && long.Parse(answered.Groups[2].Value) > 0 && long.Parse(answered.Groups[3].Value) > 0, output);
    }

    [Fact]
    public async Task With_the_network_between_them_cut_both_regions_keep_serving_and_writing_then_converge_with_every_event_once()
    {
        Assert.Equal(0, (await _east.Mesh("deploy", "parted", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
        await WaitForAsync(_west, ["models"], "parted", TimeSpan.FromSeconds(15));

        // The partition: every connection to either region's Orleans gateway is reset and new ones go unanswered,
        // so neither replication link (a peer's Orleans client) gets through. Each region's own users reach it
        // over HTTP, which is not cut: both keep writing (conflicting default versions included) and serving.
        _east.Front.Cut();
        _west.Front.Cut();
        using var eastHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_east.Http}/v2/") };
        using var westHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_west.Http}/v2/") };
        async Task DeployAsync(HttpClient http, string model, byte[] onnx)
        {
            using var answer = await http.PostAsync($"repository/models/{model}/versions", new ByteArrayContent(onnx));
            Assert.True(answer.IsSuccessStatusCode, $"deploy of {model}: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
        }
        async Task<int> InferAsync(HttpClient http, string model)
        {
            var body = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", new float[64])}}]}]}""";
            using var answer = await http.PostAsync($"models/{model}/infer", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            return (int)answer.StatusCode;
        }
        await DeployAsync(eastHttp, "parted", MlpModel.Build(new MlpModel.Options(Seed: 31)));
        await DeployAsync(westHttp, "parted", MlpModel.Build(new MlpModel.Options(Seed: 32)));
        await DeployAsync(westHttp, "westonly", MlpModel.Build(new MlpModel.Options(Seed: 33)));
        Assert.Equal(200, await InferAsync(eastHttp, "parted"));
        Assert.Equal(200, await InferAsync(westHttp, "parted"));
        Assert.Equal(200, await InferAsync(westHttp, "westonly"));
        await Task.Delay(1000);   // ten replication intervals: nothing may cross
        Assert.Equal(404, await InferAsync(eastHttp, "westonly"));
        static async Task<string> VersionsAsync(HttpClient http) => await (await http.PostAsync("repository/index", null)).Content.ReadAsStringAsync();
        Assert.Equal(2, System.Text.Json.JsonDocument.Parse(await VersionsAsync(eastHttp)).RootElement.GetArrayLength());
        Assert.Equal(3, System.Text.Json.JsonDocument.Parse(await VersionsAsync(westHttp)).RootElement.GetArrayLength());

        // Version numbers never change meaning. East is the home (first by name) and numbered its version 2;
        // west could not reach it and numbered its own from west's provisional range. Each region's numbers,
        // and the answers of predicts pinned to them, are recorded before the heal.
        static async Task<string[]> NumbersAsync(HttpClient http) => System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("models/parted"))
            .RootElement.GetProperty("versions").EnumerateArray().Select(v => v.GetString()!).ToArray();
        async Task<string> PinnedAnswerAsync(HttpClient http, string version)
        {
            var body = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", Enumerable.Range(0, 64).Select(i => (i % 7 * 0.1).ToString(System.Globalization.CultureInfo.InvariantCulture)))}}]}]}""";
            using var answer = await http.PostAsync($"models/parted/versions/{version}/infer", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            Assert.True(answer.IsSuccessStatusCode, $"version {version}: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
            return System.Text.Json.JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("outputs")[0].GetProperty("data").GetRawText();
        }
        var provisional = Mesh.Grains.Models.VersionNumbering.Provisional("west", 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(["1", "2"], await NumbersAsync(eastHttp));
        Assert.Equal(["1", provisional], await NumbersAsync(westHttp));
        var eastTwo = await PinnedAnswerAsync(eastHttp, "2");
        var westProvisional = await PinnedAnswerAsync(westHttp, provisional);
        var westOne = await PinnedAnswerAsync(westHttp, "1");

        _east.Front.Heal();
        _west.Front.Heal();
        await WaitForAsync(_east, ["models"], "westonly", TimeSpan.FromSeconds(30));
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(30) && ((await NumbersAsync(eastHttp)).Length < 3 || (await NumbersAsync(westHttp)).Length < 3))
            await Task.Delay(200);
        Assert.Equal(["1", "2", provisional], await NumbersAsync(eastHttp));
        Assert.Equal(["1", "2", provisional], await NumbersAsync(westHttp));
        // Each number names what it named before the partition, in both regions.
        foreach (var http in new[] { eastHttp, westHttp })
        {
            Assert.Equal(eastTwo, await PinnedAnswerAsync(http, "2"));
            Assert.Equal(westProvisional, await PinnedAnswerAsync(http, provisional));
            Assert.Equal(westOne, await PinnedAnswerAsync(http, "1"));
        }
        string east = "", west = "";
        watch.Restart();
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            (east, west) = ((await _east.Mesh("model", "parted")).Stdout, (await _west.Mesh("model", "parted")).Stdout);
            if (east == west) break;
        }
        Assert.Equal(east, west);

        // The stores hold the same events, each once.
        static string[] Ids(string stdout) => stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("Id").GetString()!).ToArray();
        var eastIds = Ids((await _east.Mesh("events", "tail", "--stream", "model/", "--json")).Stdout);
        var westIds = Ids((await _west.Mesh("events", "tail", "--stream", "model/", "--json")).Stdout);
        Assert.Equal(eastIds.Length, eastIds.Distinct().Count());
        Assert.Equal(eastIds.Order(), westIds.Order());
        Assert.Equal(4, eastIds.Length);   // parted: 3 versions; westonly: 1 version
        // The links reconnected by themselves and say so.
        Assert.Matches(@"west\s+\d+\s+0\s", await WaitForAsync(_east, ["regions"], " ok", TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_client_that_measures_latency_prefers_the_nearer_region_and_returns_when_the_first_is_near_again()
    {
        Assert.Equal(0, (await _east.Mesh("deploy", "near", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
        var (westHost, westClient) = await _west.ConnectAsync();
        using (westHost) await WaitForModelAsync(westClient, "near", TimeSpan.FromSeconds(15));

        // East is listed first but sits behind 40 ms each way; the probes find west nearer.
        _east.Front.Delay = TimeSpan.FromMilliseconds(40);
        await using var mesh = await MeshRegions.ConnectAsync(new MeshRegionsOptions
        {
            Regions =
            [
                new MeshRegionEndpoint { Name = "east", Gateways = [$"127.0.0.1:{_east.Gateway}"] },
                new MeshRegionEndpoint { Name = "west", Gateways = [$"127.0.0.1:{_west.Gateway}"] },
            ],
            PreferLowestLatency = true,
            ProbeInterval = TimeSpan.FromMilliseconds(100),
        });
        async Task<string> ServedByAsync(string expected)
        {
            var watch = Stopwatch.StartNew();
            string region;
            do
            {
                await Task.Delay(100);
                region = (await mesh.PredictAsync(new PredictRequest("near", [TestModels.MlpInput(1)]))).Region;
            } while (region != expected && watch.Elapsed < TimeSpan.FromSeconds(15));
            return region;
        }
        Assert.Equal("west", await ServedByAsync("west"));
        var health = mesh.Regions;
        Assert.Equal(["west", "east"], health.Select(r => r.Name));
        Assert.True(health[1].RoundTripMilliseconds > 40, $"east measured at {health[1].RoundTripMilliseconds} ms");
        Assert.Equal(0, mesh.Failovers);   // choosing the nearer region is not a failover

        _east.Front.Delay = TimeSpan.Zero;
        Assert.Equal("east", await ServedByAsync("east"));
    }

    [Fact]
    public async Task Device_aggregates_reach_the_other_region_while_the_devices_own_events_stay_home()
    {
        var (eastHost, east) = await _east.ConnectAsync();
        using (eastHost)
        {
            var device = await east.RegisterDeviceAsync("pump-7", new Mesh.Abstractions.Grains.DeviceRegistration("east", ["mlp"]));
            var results = Enumerable.Range(1, 3).Select(i => new Mesh.Abstractions.Grains.DeviceResult(i, "mlp", 1, DateTimeOffset.UtcNow, "edge", null, [])).ToArray();
            var ack = await east.SyncDeviceAsync("pump-7", Mesh.Protocol.ApiKeys.Hash(device.Token!), new Mesh.Abstractions.Grains.DeviceSyncBatch(results));
            Assert.Equal(3, ack.AppliedThrough);
        }
        // The fleet summary is recorded every few seconds, then shipped like any replicated stream.
        var west = await WaitForAsync(_west, ["devices"], "region east: 1 devices, 3 results, 0 lost", TimeSpan.FromSeconds(30));
        Assert.Contains("no devices registered in this region", west);
        Assert.Equal("", (await _west.Mesh("events", "tail", "--stream", "device/", "--json")).Stdout.Trim());
        Assert.NotEqual("", (await _east.Mesh("events", "tail", "--stream", "device/", "--json")).Stdout.Trim());
    }

    [Fact]
    public async Task A_pinned_name_is_not_taken_over_from_outside_its_region_by_a_deploy_there_or_by_its_replay_and_aggregates_do_not_name_it()
    {
        Assert.Equal(0, (await _east.Mesh("deploy", "scores", TestModels.PathOf("fraud.onnx"), "--region", "east")).ExitCode);
        using var eastHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_east.Http}/v2/") };
        using var westHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_west.Http}/v2/") };

        // West asks east before it takes the name.
        using (var refused = await westHttp.PostAsync("repository/models/scores/versions", new ByteArrayContent(TestModels.Mlp)))
        {
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("pinned to region(s) east", await refused.Content.ReadAsStringAsync());
        }

        // Cut off, west cannot ask and takes the deploy; when the link heals, east refuses what west replays.
        _east.Front.Cut();
        _west.Front.Cut();
        using (var taken = await westHttp.PostAsync("repository/models/scores/versions", new ByteArrayContent(TestModels.Mlp)))
            Assert.Equal(System.Net.HttpStatusCode.Created, taken.StatusCode);
        _east.Front.Heal();
        _west.Front.Heal();
        static long Refused(string metrics) => metrics.Split('\n')
            .Where(l => l.StartsWith("mesh_replication_refused_total{", StringComparison.Ordinal) && l.Contains("mesh_model=\"scores\"") && l.Contains("mesh_region_from=\"west\""))
            .Sum(l => (long)double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        long refusedEvents = 0;
        var waiting = Stopwatch.StartNew();
        while (refusedEvents == 0 && waiting.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(250);
            refusedEvents = Refused(await eastHttp.GetStringAsync($"http://127.0.0.1:{_east.Http}/metrics"));
        }
        Assert.True(refusedEvents > 0, "east never refused west's events for its pinned model");
        // East's model is still the fraud model alone, and still answers fraud requests.
        var eastModel = (await _east.Mesh("model", "scores")).Stdout;
        Assert.Contains("residency: east", eastModel);
        var fraud = System.Text.Json.JsonDocument.Parse(await eastHttp.GetStringAsync("models/scores")).RootElement;
        Assert.Equal(["1"], fraud.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        Assert.NotEqual("input", fraud.GetProperty("inputs")[0].GetProperty("name").GetString());

        // A device of the pinned model counts in east's fleet summary, which reaches west without the model's name.
        var (eastHost, east) = await _east.ConnectAsync();
        using (eastHost)
            await east.RegisterDeviceAsync("scorer-1", new Mesh.Abstractions.Grains.DeviceRegistration("east", ["scores"]));
        await WaitForAsync(_west, ["devices"], "region east: 1 devices", TimeSpan.FromSeconds(30));
        Assert.DoesNotContain("scores", (await _west.Mesh("events", "tail", "--stream", "fleet/", "--json")).Stdout);
    }

    [Fact]
    public async Task A_paused_link_holds_events_back_until_resumed()
    {
        Assert.Equal(0, (await _east.Mesh("deploy", "held", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
        await WaitForAsync(_west, ["models"], "held", TimeSpan.FromSeconds(15));
        Assert.Contains("replication to west paused", (await _east.Mesh("regions", "pause", "west")).Stdout);
        Assert.Contains("paused", (await _east.Mesh("regions")).Stdout);
        var unknown = await _east.Mesh("regions", "pause", "mars");
        Assert.Equal("error: request field 'peer': 'mars' is not a peer of this region (peers: west)", unknown.Stderr.Trim());

        Assert.Equal(0, (await _east.Mesh("policy", "held", "--max-batch", "8")).ExitCode);
        await Task.Delay(1000);
        Assert.DoesNotContain("max batch 8", (await _west.Mesh("model", "held")).Stdout);
        Assert.Equal(0, (await _east.Mesh("regions", "resume", "west")).ExitCode);
        await WaitForAsync(_west, ["model", "held"], "max batch 8", TimeSpan.FromSeconds(15));
    }

    private static async Task<TimeSpan> WaitForModelAsync(MeshClient client, string model, TimeSpan within)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await client.GetModelAsync(model);
                return watch.Elapsed;
            }
            catch (ModelNotFoundException) when (watch.Elapsed < within)
            {
                await Task.Delay(10);
            }
        }
    }

    [Fact]
    public async Task A_model_deployed_in_one_region_serves_in_the_other_with_the_same_lineage_and_concurrent_splits_converge()
    {
        var v2 = Path.Combine(_east.Data, "v2.onnx");
        Directory.CreateDirectory(_east.Data);
        await File.WriteAllBytesAsync(v2, MlpModel.Build(new MlpModel.Options(Seed: 2)));

        var deploy = await _east.Mesh("deploy", "shared", TestModels.PathOf("mlp-small.onnx"));
        Assert.True(deploy.ExitCode == 0, deploy.Stderr);
        Assert.Equal(0, (await _east.Mesh("deploy", "shared", v2, "--no-default", "--parent", "1", "--notes", "from east")).ExitCode);

        // The CLI's own start-up (about half a second) is inside this bound.
        var lineage = await WaitForAsync(_west, ["lineage", "shared"], "from east", TimeSpan.FromSeconds(10));
        Assert.Equal((await _east.Mesh("lineage", "shared")).Stdout, lineage);
        var predict = await _west.Mesh("predict", "shared", "--input", "input=1x64:" + string.Join(",", new float[64]), "--format", "json");
        Assert.True(predict.ExitCode == 0, predict.Stderr);

        // Conflicting splits written in both regions at once (through the SDK, so the time measured is the mesh's):
        // both end with the same one within 2 s of the links carrying them.
        var (eastHost, eastClient) = await _east.ConnectAsync();
        var (westHost, westClient) = await _west.ConnectAsync();
        using (eastHost)
        using (westHost)
        {
            // The links are paused around the two writes so that neither region has seen the other's: truly
            // concurrent writes (on a busy machine two "simultaneous" calls can otherwise run one after the other).
            await Task.WhenAll(eastClient.SetReplicationPausedAsync("west", true), westClient.SetReplicationPausedAsync("east", true));
            await Task.WhenAll(
                eastClient.SetTrafficAsync("shared", new TrafficWeight(1, 90), new TrafficWeight(2, 10)),
                westClient.SetTrafficAsync("shared", new TrafficWeight(1, 30), new TrafficWeight(2, 70)));
            await Task.WhenAll(eastClient.SetReplicationPausedAsync("west", false), westClient.SetReplicationPausedAsync("east", false));
            var converged = Stopwatch.StartNew();
            string eastTraffic = "", westTraffic = "";
            while (converged.Elapsed < TimeSpan.FromSeconds(10))
            {
                eastTraffic = System.Text.Json.JsonSerializer.Serialize((await eastClient.GetModelAsync("shared")).Traffic);
                westTraffic = System.Text.Json.JsonSerializer.Serialize((await westClient.GetModelAsync("shared")).Traffic);
                if (eastTraffic == westTraffic) break;
                await Task.Delay(10);
            }
            var took = converged.Elapsed;
            Assert.Equal(eastTraffic, westTraffic);
            Assert.True(took < TimeSpan.FromSeconds(2), $"the regions agreed after {took.TotalMilliseconds:F0} ms");
        }
        // Exactly one of the two writes arrived older than the other region's and lost there: one conflict settled.
        using (var http = new HttpClient())
        {
            static long Conflicts(string metrics) => metrics.Split('\n')
                .Where(l => l.StartsWith("mesh_replication_conflicts_total{", StringComparison.Ordinal) && l.Contains("mesh_model=\"shared\""))
                .Sum(l => (long)double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
            // Agreement can be seen before the losing write has reached the winner's region (each link ships on
            // its own tick), so the count is awaited, bounded.
            long conflicts = 0;
            var counting = Stopwatch.StartNew();
            while (conflicts == 0 && counting.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(200);
                conflicts = Conflicts(await http.GetStringAsync($"http://127.0.0.1:{_east.Http}/metrics"))
                            + Conflicts(await http.GetStringAsync($"http://127.0.0.1:{_west.Http}/metrics"));
            }
            Assert.Equal(1, conflicts);
        }
        var eastModel = (await _east.Mesh("model", "shared")).Stdout;
        Assert.Equal(eastModel, (await _west.Mesh("model", "shared")).Stdout);
        Assert.Matches(@"traffic: (v1=90% v2=10%|v1=30% v2=70%)", eastModel);

        // Each store holds every event once: the east's own and the west's.
        var eastEvents = (await _east.Mesh("events", "tail", "--stream", "model/shared", "--json")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var westEvents = (await _west.Mesh("events", "tail", "--stream", "model/shared", "--json")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, eastEvents.Length);
        Assert.Equal(4, westEvents.Length);
        static string Id(string line) => System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("Id").GetString()!;
        Assert.Equal(eastEvents.Select(Id).Order(), westEvents.Select(Id).Order());
        var links = await WaitForAsync(_east, ["regions"], " ok", TimeSpan.FromSeconds(10));
        Assert.Contains("region east: feed at position", links);
        Assert.Matches(@"west\s+\d+\s+0\s+[1-9]\d*\s+\S+ \S+\s+ok", links);
    }
}

/// <summary>
/// The region tests assert times the issue sets (a deploy visible in the other region within 1 s, agreement within
/// 2 s). On 2 cores they run alone, after the parallel tests, so other tests' processes do not decide them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RegionTimingCollection
{
    public const string Name = "region timing";
}
