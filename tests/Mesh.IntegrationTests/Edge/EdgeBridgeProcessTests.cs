using System.Diagnostics;
using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Tensors;
using Mesh.Edge;
using Mesh.Edge.Configuration;
using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Edge;

/// <summary>
/// The edge bridge as a device runs it: its own process with a local model and an outbox, syncing to a real silo
/// process over HTTP. Results must reach the device's stream exactly once whatever happens to either process.
/// </summary>
[Trait("Category", "Process"), Trait("Category", "Edge")]
public class EdgeBridgeProcessTests : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly int _gateway = MeshProcess.FreePort();
    private readonly int _siloPort = MeshProcess.FreePort();
    private readonly int _http = MeshProcess.FreePort();
    private readonly int _grpc = MeshProcess.FreePort();
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mesh-tests", $"edge-{Guid.NewGuid():N}");
    private MeshProcess? _silo;

    private string SiloData => Path.Combine(_root, "silo");
    private string MeshUrl => $"http://127.0.0.1:{_http}";

    public async Task InitializeAsync() => await StartSiloAsync();

    public async Task DisposeAsync()
    {
        if (_silo is not null) await _silo.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private async Task StartSiloAsync(Dictionary<string, string>? settings = null)
    {
        _silo = MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [], new Dictionary<string, string>(settings ?? [])
        {
            ["Mesh__Silo__SiloPort"] = _siloPort.ToString(),
            ["Mesh__Silo__GatewayPort"] = _gateway.ToString(),
            ["Mesh__Silo__DeploySampleModel"] = "false",
            ["Mesh__Gateway__HttpPort"] = _http.ToString(),
            ["Mesh__Gateway__GrpcPort"] = _grpc.ToString(),
            ["Mesh__Storage__DataDirectory"] = SiloData,
        });
        await _silo.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> Mesh(params string[] args) =>
        MeshProcess.RunCliAsync([.. args, "--gateway", $"127.0.0.1:{_gateway}"]);

    private Task<string> RegisterAsync(string device) => RegisterAsync(device, "mlp");

    private sealed record Bridge(MeshProcess Process, int Http) : IAsyncDisposable
    {
        public async Task<JsonElement> StatusAsync()
        {
            using var http = new HttpClient();
            return JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{Http}/v2/edge/status")).RootElement.Clone();
        }

        public async Task<HttpResponseMessage> PredictAsync(float value = 0.5f)
        {
            using var http = new HttpClient();
            var body = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", Enumerable.Repeat(value.ToString(System.Globalization.CultureInfo.InvariantCulture), 64))}}]}]}""";
            return await http.PostAsync($"http://127.0.0.1:{Http}/v2/models/mlp/infer", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        }

        public ValueTask DisposeAsync() => Process.DisposeAsync();
    }

    /// <summary>Registers a device with the given models and returns its sync token.</summary>
    private async Task<string> RegisterAsync(string device, params string[] models)
    {
        var registered = await Mesh(["devices", "register", device, "--home", "local", .. models.SelectMany(m => new[] { "--model", m })]);
        Assert.True(registered.ExitCode == 0, registered.Stderr);
        return MeshProcess.DeviceToken(registered.Stdout);
    }

    private async Task<Bridge> StartBridgeAsync(string device, string? token, string data, Dictionary<string, string>? settings = null)
    {
        var http = MeshProcess.FreePort();
        var environment = MeshProcess.EdgeBridgeSettings(device, data, http, token is null ? null : MeshUrl, token);
        environment["Mesh__Edge__Sync__MaxBackoff"] = "00:00:01";
        foreach (var (key, value) in settings ?? []) environment[key] = value;
        var process = MeshProcess.Start(MeshProcess.BuiltAssembly("edge-bridge/Mesh.EdgeBridge", "mesh-edge.dll"), [], environment);
        await process.WaitForOutputAsync("Mesh edge bridge ready:", StartTimeout);
        return new Bridge(process, http);
    }

    private async Task<string> WaitForDeviceAsync(string device, string expected, TimeSpan within)
    {
        var watch = Stopwatch.StartNew();
        var last = "";
        while (watch.Elapsed < within)
        {
            var shown = await Mesh("device", device);
            last = shown.Stdout + shown.Stderr;
            if (shown.Stdout.Contains(expected, StringComparison.Ordinal)) return shown.Stdout;
            await Task.Delay(200);
        }
        Assert.Fail($"`mesh device {device}` did not show '{expected}' within {within}; last:\n{last}");
        return "";
    }

    /// <summary>Every result sequence number on the device's stream, as often as it appears there.</summary>
    private async Task<long[]> SyncedSequencesAsync(string device)
    {
        var events = await Mesh("events", "tail", "--stream", "device/" + device, "--json");
        Assert.Equal(0, events.ExitCode);
        var sequences = new List<long>();
        foreach (var line in events.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var e = JsonDocument.Parse(line).RootElement;
            if (e.GetProperty("Type").GetString() != "device.results-synced") continue;
            sequences.AddRange(e.GetProperty("Data").GetProperty("results").EnumerateArray().Select(r => r.GetProperty("sequence").GetInt64()));
        }
        return sequences.ToArray();
    }

    [Fact]
    public async Task A_local_predict_is_answered_on_the_device_and_its_result_reaches_the_device_stream_once()
    {
        var token = await RegisterAsync("cam-1");
        await using var bridge = await StartBridgeAsync("cam-1", token, Path.Combine(_root, "cam-1"));
        for (var i = 1; i <= 3; i++)
        {
            using var answer = await bridge.PredictAsync(i);
            Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
            Assert.Equal(i.ToString(), answer.Headers.GetValues("Mesh-Result-Sequence").Single());
            Assert.Equal("edge", answer.Headers.GetValues("Mesh-Result-Origin").Single());
            Assert.Equal(10, JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("outputs")[0].GetProperty("data").GetArrayLength());
        }
        var device = await WaitForDeviceAsync("cam-1", "results: 3 synced, applied through 3, 0 lost on the device, 0 missing", TimeSpan.FromSeconds(30));
        Assert.Contains("model.mlp.version = 1", device);
        Assert.Equal(new long[] { 1, 2, 3 }, await SyncedSequencesAsync("cam-1"));
        Assert.Equal(0, (await bridge.StatusAsync()).GetProperty("outbox_depth").GetInt64());

        // Bad input is refused by the bridge, names the rule, and produces no result.
        using (var http = new HttpClient())
        {
            using var bad = await http.PostAsync($"http://127.0.0.1:{bridge.Http}/v2/models/mlp/infer",
                new StringContent("""{"inputs":[{"name":"input","shape":[1,63],"datatype":"FP32","data":[0]}]}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(400, (int)bad.StatusCode);
            // Not on the device, and the region will not serve it to this device: a clear refusal.
            var zeros = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", new float[64])}}]}]}""";
            using var unknown = await http.PostAsync($"http://127.0.0.1:{bridge.Http}/v2/models/nope/infer", new StringContent(zeros));
            Assert.Equal(503, (int)unknown.StatusCode);
            Assert.Contains("model 'nope' is not on this device and the region could not answer", await unknown.Content.ReadAsStringAsync());
            Assert.Contains("'nope' is not assigned to device 'cam-1'", await unknown.Content.ReadAsStringAsync());
        }
        Assert.Equal(3, (await bridge.StatusAsync()).GetProperty("last_sequence").GetInt64());

        // Desired sync settings: the cloud's half wins over the bridge's configuration, and the device reports them applied.
        Assert.Equal(0, (await Mesh("devices", "desire", "cam-1", "sync.batch_size=7")).ExitCode);
        await WaitForDeviceAsync("cam-1", "sync.batch_size = 7", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task An_application_predicting_in_process_gets_durable_numbered_results_that_reach_the_device_stream_once()
    {
        var token = await RegisterAsync("cam-lib");
        var options = new EdgeBridgeOptions
        {
            DeviceId = "cam-lib",
            DataDirectory = Path.Combine(_root, "cam-lib"),
            MeshUrl = MeshUrl,
            Token = token,
            Models = [new() { Name = "mlp", Path = TestModels.PathOf("mlp-small.onnx") }],
            Sync = new() { Interval = TimeSpan.FromMilliseconds(100), MaxBackoff = TimeSpan.FromSeconds(1) },
        };
        var input = NamedTensor.Create("input", [1, 64], Enumerable.Repeat(0.5f, 64).ToArray());
        await using (var edge = await MeshEdge.StartAsync(options))
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => edge.PredictAsync(new PredictRequest("mlp", [input]))));
            Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), answers.Select(a => a.Sequence).Order());
            Assert.All(answers, a => Assert.Equal(("edge", 10L), (a.Origin, a.Response.Outputs[0].ElementCount)));
            // Bad input is the same typed error the local API turns into a 400, and makes no result.
            var bad = await Assert.ThrowsAnyAsync<MeshInvalidArgumentException>(() => edge.PredictAsync(new PredictRequest("mlp",
                [NamedTensor.Create("input", [1, 63], new float[63])])));
            Assert.Contains("input 'input'", bad.Message);
            Assert.Equal(20, edge.Outbox.LastSequence);
            await WaitForDeviceAsync("cam-lib", "results: 20 synced, applied through 20, 0 lost on the device, 0 missing", TimeSpan.FromSeconds(30));
        }
        // The application restarts: numbering goes on from the outbox, and the new results sync too.
        await using (var again = await MeshEdge.StartAsync(options))
        {
            Assert.Equal(21, (await again.PredictAsync(new PredictRequest("mlp", [input]))).Sequence);
            await WaitForDeviceAsync("cam-lib", "results: 21 synced, applied through 21, 0 lost on the device, 0 missing", TimeSpan.FromSeconds(30));
        }
        Assert.Equal(Enumerable.Range(1, 21).Select(i => (long)i), (await SyncedSequencesAsync("cam-lib")).Order());
    }

    [Fact, System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_local_api_on_a_unix_socket_answers_with_no_tcp_port_and_only_the_owner_and_group_may_connect()
    {
        var data = Path.Combine(_root, "cam-uds");
        Directory.CreateDirectory(data);
        var socket = Path.Combine(data, "edge.sock");
        // A socket file left behind by a killed bridge does not stop the next one.
        await File.WriteAllTextAsync(socket, "stale");
        await using var bridge = await StartBridgeAsync("cam-uds", null, data, new() { ["Mesh__Edge__HttpPort"] = "-1", ["Mesh__Edge__LocalSocket"] = socket });
        Assert.Contains($"http://unix:{socket}", bridge.Process.Stderr);
        Assert.DoesNotContain("http://127.0.0.1", bridge.Process.Stderr);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, File.GetUnixFileMode(socket));

        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellation) =>
            {
                var unix = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await unix.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socket), cancellation);
                return new System.Net.Sockets.NetworkStream(unix, ownsSocket: true);
            },
        }) { BaseAddress = new Uri("http://edge/") };
        var body = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", Enumerable.Repeat("0.5", 64))}}]}]}""";
        for (var i = 1; i <= 2; i++)
        {
            using var answer = await http.PostAsync("v2/models/mlp/infer", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
            Assert.Equal(i.ToString(), answer.Headers.GetValues("Mesh-Result-Sequence").Single());
            Assert.Equal(10, JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("outputs")[0].GetProperty("data").GetArrayLength());
        }
        using var bad = await http.PostAsync("v2/models/mlp/infer", new StringContent("""{"inputs":[{"name":"input","shape":[1,63],"datatype":"FP32","data":[0]}]}"""));
        Assert.Equal(400, (int)bad.StatusCode);
        var status = JsonDocument.Parse(await http.GetStringAsync("v2/edge/status")).RootElement;
        Assert.Equal(2, status.GetProperty("last_sequence").GetInt64());
    }

    [Fact]
    public async Task A_bridge_with_no_tcp_port_and_no_socket_stops_at_start_and_names_the_setting()
    {
        var environment = MeshProcess.EdgeBridgeSettings("cam-none", Path.Combine(_root, "cam-none"), -1);
        await using var process = MeshProcess.Start(MeshProcess.BuiltAssembly("edge-bridge/Mesh.EdgeBridge", "mesh-edge.dll"), [], environment);
        Assert.NotEqual(0, await process.WaitForExitAsync(StartTimeout));
        Assert.Contains("Mesh:Edge:HttpPort is -1 (no TCP), so Mesh:Edge:LocalSocket must name the Unix socket to serve on", process.Stdout + process.Stderr);
    }

    [Fact]
    public async Task A_bridge_with_a_wrong_token_syncs_nothing_and_says_why()
    {
        await RegisterAsync("cam-2");
        await using var bridge = await StartBridgeAsync("cam-2", "mesh_not-the-token", Path.Combine(_root, "cam-2"));
        using (var answer = await bridge.PredictAsync()) Assert.True(answer.IsSuccessStatusCode);
        var watch = Stopwatch.StartNew();
        string? error = null;
        while (watch.Elapsed < TimeSpan.FromSeconds(20) && error is null)
        {
            await Task.Delay(200);
            var status = await bridge.StatusAsync();
            error = status.GetProperty("last_error").GetString();
        }
        Assert.Contains("the sync token is missing or not the device's current one", error);
        Assert.Equal(1, (await bridge.StatusAsync()).GetProperty("outbox_depth").GetInt64());
        Assert.Contains("results: 0 synced", (await Mesh("device", "cam-2")).Stdout);
    }

    [Fact, Trait("Category", "Slow")]
    public async Task Killing_the_bridge_in_the_middle_of_a_sync_loses_and_duplicates_none_of_10000_results()
    {
        const int Count = 10_000;
        var token = await RegisterAsync("cam-3");
        var data = Path.Combine(_root, "cam-3");

        // Offline first: 10,000 results predicted through the JSON lines API and held in the outbox.
        await using (var offline = await StartBridgeAsync("cam-3", null, data, new() { ["Mesh__Edge__JsonLines"] = "true" }))
        {
            var line = $$"""{"model":"mlp","inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", new float[64])}}]}]}""";
            for (var i = 0; i < Count; i++) await offline.Process.Input.WriteLineAsync(line);
            await offline.Process.Input.FlushAsync();
            var watch = Stopwatch.StartNew();
            while (offline.Process.Stdout.Count(c => c == '\n') < Count && watch.Elapsed < TimeSpan.FromSeconds(120)) await Task.Delay(100);
            Assert.Equal(Count, offline.Process.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.Contains("\"sequence\"")));
            Assert.Equal(Count, (await offline.StatusAsync()).GetProperty("outbox_depth").GetInt64());
        }

        // Online in small batches; SIGKILL once the mesh has some but not all.
        var settings = new Dictionary<string, string> { ["Mesh__Edge__Sync__BatchSize"] = "100" };
        await using (var syncing = await StartBridgeAsync("cam-3", token, data, settings))
        {
            var watch = Stopwatch.StartNew();
            long applied = 0;
            while (applied == 0 && watch.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(20);
                applied = (await syncing.StatusAsync()).GetProperty("applied_through").GetInt64();
            }
            Assert.InRange(applied, 1, Count - 1);
        }   // disposed = killed (SIGKILL), whatever it was doing

        await using var restarted = await StartBridgeAsync("cam-3", token, data, settings);
        await WaitForDeviceAsync("cam-3", $"results: {Count} synced, applied through {Count}, 0 lost on the device, 0 missing", TimeSpan.FromSeconds(120));
        var sequences = await SyncedSequencesAsync("cam-3");
        Assert.Equal(Count, sequences.Length);
        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i), sequences.Order());
    }

    [Fact]
    public async Task With_the_mesh_down_the_bridge_keeps_answering_and_drains_everything_once_it_returns()
    {
        var token = await RegisterAsync("cam-4");
        await using var bridge = await StartBridgeAsync("cam-4", token, Path.Combine(_root, "cam-4"));
        for (var i = 0; i < 5; i++) using (var answer = await bridge.PredictAsync()) Assert.True(answer.IsSuccessStatusCode);
        await WaitForDeviceAsync("cam-4", "results: 5 synced", TimeSpan.FromSeconds(30));

        await _silo!.DisposeAsync();   // the mesh is gone (kill -9)
        for (var i = 0; i < 300; i++)
        {
            using var answer = await bridge.PredictAsync(i);
            Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
        }
        var offline = await bridge.StatusAsync();
        Assert.Equal(300, offline.GetProperty("outbox_depth").GetInt64());
        Assert.NotNull(offline.GetProperty("last_error").GetString());

        await StartSiloAsync();
        await WaitForDeviceAsync("cam-4", "results: 305 synced, applied through 305, 0 lost on the device, 0 missing", TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(1, 305).Select(i => (long)i), (await SyncedSequencesAsync("cam-4")).Order());
    }

    [Fact]
    public async Task A_full_outbox_drops_the_oldest_and_the_mesh_is_told_or_refuses_new_predicts_by_policy()
    {
        var token = await RegisterAsync("cam-5");
        var data = Path.Combine(_root, "cam-5");
        await using (var offline = await StartBridgeAsync("cam-5", null, data, new() { ["Mesh__Edge__Outbox__MaxResults"] = "100" }))
        {
            for (var i = 0; i < 150; i++) using (var answer = await offline.PredictAsync(i)) Assert.True(answer.IsSuccessStatusCode);
            var status = await offline.StatusAsync();
            Assert.Equal(100, status.GetProperty("outbox_depth").GetInt64());
            Assert.Equal(50, status.GetProperty("lost").GetInt64());
            Assert.Contains("Outbox dropped", offline.Process.Stderr + offline.Process.Stdout);
        }
        await using (var online = await StartBridgeAsync("cam-5", token, data, new() { ["Mesh__Edge__Outbox__MaxResults"] = "100" }))
        {
            await WaitForDeviceAsync("cam-5", "results: 100 synced, applied through 150, 50 lost on the device, 0 missing", TimeSpan.FromSeconds(30));
        }
        Assert.Equal(Enumerable.Range(51, 100).Select(i => (long)i), (await SyncedSequencesAsync("cam-5")).Order());

        await using var refusing = await StartBridgeAsync("cam-6", null, Path.Combine(_root, "cam-6"),
            new() { ["Mesh__Edge__Outbox__MaxResults"] = "10", ["Mesh__Edge__Outbox__Overflow"] = "Refuse" });
        for (var i = 0; i < 10; i++) using (var answer = await refusing.PredictAsync()) Assert.True(answer.IsSuccessStatusCode);
        using var refused = await refusing.PredictAsync();
        Assert.Equal(503, (int)refused.StatusCode);
        Assert.Contains("Mesh:Edge:Outbox:MaxResults = 10", await refused.Content.ReadAsStringAsync());
        Assert.Equal(0, (await refusing.StatusAsync()).GetProperty("lost").GetInt64());
    }

    [Fact, Trait("Category", "Slow")]
    public async Task Over_the_air_updates_swap_under_load_refuse_bad_versions_resume_downloads_and_roll_back()
    {
        var v1 = await File.ReadAllBytesAsync(TestModels.PathOf("mlp-small.onnx"));
        var files = new[] { v1, global::Mesh.SampleModels.MlpModel.Build(new(Seed: 41)), global::Mesh.SampleModels.MlpModel.Build(new(Inputs: 32, Seed: 43)) };
        var shas = new List<string>();
        for (var i = 0; i < files.Length; i++)
        {
            var file = Path.Combine(_root, $"v{i + 1}.onnx");
            Directory.CreateDirectory(_root);
            await File.WriteAllBytesAsync(file, files[i]);
            var deployed = await Mesh("deploy", "mlp", file, "--no-default");
            Assert.True(deployed.ExitCode == 0, deployed.Stderr);
            shas.Add(global::Mesh.Grains.Storage.ArtifactHash.Of(files[i]));
        }
        var token = await RegisterAsync("cam-ota");
        var data = Path.Combine(_root, "cam-ota");
        await using var bridge = await StartBridgeAsync("cam-ota", token, data);

        async Task<string> RunningAsync() => (await bridge.StatusAsync()).GetProperty("models")[0].GetProperty("version").GetInt32().ToString();
        async Task<string> UpdateOutcomeAsync(string expected)
        {
            var watch = Stopwatch.StartNew();
            var outcome = "";
            while (watch.Elapsed < TimeSpan.FromSeconds(30))
            {
                var device = (await Mesh("device", "cam-ota")).Stdout;
                outcome = device.Split('\n').FirstOrDefault(l => l.Contains("model.mlp.update = ")) ?? "";
                if (outcome.Contains(expected, StringComparison.Ordinal)) return outcome;
                await Task.Delay(200);
            }
            Assert.Fail($"the twin did not report an update outcome with '{expected}'; last: '{outcome}'");
            return "";
        }

        // Steady local load through every step: no request may fail.
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var served = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var answer = await bridge.PredictAsync();
                var body = await answer.Content.ReadAsStringAsync();
                if (!answer.IsSuccessStatusCode) failures.Enqueue(body);
                else served.AddOrUpdate(JsonDocument.Parse(body).RootElement.GetProperty("model_version").GetString()!, 1, (_, n) => n + 1);
            }
        });

        // A good update swaps in.
        Assert.Equal(0, (await Mesh("devices", "assign", "cam-ota", "mlp", "2")).ExitCode);
        await UpdateOutcomeAsync("ok: version 2");
        Assert.Equal("2", await RunningAsync());

        // A hash that does not match what arrives: refused, version 2 keeps serving.
        Assert.Equal(0, (await Mesh("devices", "desire", "cam-ota", "model.mlp.version=1", "model.mlp.sha256=" + new string('a', 64))).ExitCode);
        Assert.Contains("SHA-256 is " + shas[0], await UpdateOutcomeAsync("failed: version 1"));
        Assert.Equal("2", await RunningAsync());

        // A version whose inputs differ (callers would break) fails validation: refused.
        Assert.Equal(0, (await Mesh("devices", "assign", "cam-ota", "mlp", "3")).ExitCode);
        Assert.Contains("input 'input'", await UpdateOutcomeAsync("failed: version 3"));
        Assert.Equal("2", await RunningAsync());

        // A corrupt partial download (as a crash mid-download can leave) is resumed, found wrong, refused.
        await File.WriteAllBytesAsync(Path.Combine(data, "models", shas[0] + ".onnx.part"), new byte[100]);
        Assert.Equal(0, (await Mesh("devices", "assign", "cam-ota", "mlp", "1")).ExitCode);
        Assert.Contains("(resumed at byte 100)", await UpdateOutcomeAsync("failed: version 1"));
        Assert.Equal("2", await RunningAsync());

        // A good partial download (the bridge restarted halfway) is resumed and completed: the rollback to 1 lands.
        Assert.Equal(0, (await Mesh("devices", "assign", "cam-ota", "mlp", "2")).ExitCode);
        await File.WriteAllBytesAsync(Path.Combine(data, "models", shas[0] + ".onnx.part"), v1[..(v1.Length / 2)]);
        Assert.Equal(0, (await Mesh("devices", "assign", "cam-ota", "mlp", "1")).ExitCode);
        await UpdateOutcomeAsync("ok: version 1");
        Assert.Equal("1", await RunningAsync());

        stop.Cancel();
        await load;
        Assert.Empty(failures);
        Assert.True(served.GetValueOrDefault("2") > 0 && served.GetValueOrDefault("1") > 0, string.Join(", ", served));
        Assert.Contains("model.mlp.version = 1", (await Mesh("device", "cam-ota")).Stdout);
    }

    [Fact]
    public async Task A_missing_or_unconfident_local_model_falls_back_to_the_region_and_the_result_says_so()
    {
        Assert.Equal(0, (await Mesh("deploy", "mlp", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
        Assert.Equal(0, (await Mesh("deploy", "remote", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
        var token = await RegisterAsync("cam-fb", "mlp", "remote");
        // The sample MLP's top probability is about 0.12: below 0.99, every local answer is not confident enough.
        await using var bridge = await StartBridgeAsync("cam-fb", token, Path.Combine(_root, "cam-fb"),
            new() { ["Mesh__Edge__Models__0__ConfidenceThreshold"] = "0.99" });
        var zeros = $$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{string.Join(",", new float[64])}}]}]}""";
        async Task<string> OriginAsync(string model)
        {
            var (status, origin, body) = await PredictAsync(model);
            Assert.True(status == 200, body);
            return origin;
        }
        async Task<(int Status, string Origin, string Body)> PredictAsync(string model)
        {
            using var http = new HttpClient();
            using var answer = await http.PostAsync($"http://127.0.0.1:{bridge.Http}/v2/models/{model}/infer", new StringContent(zeros));
            var origin = answer.Headers.TryGetValues("Mesh-Result-Origin", out var values) ? values.Single() : "";
            return ((int)answer.StatusCode, origin, await answer.Content.ReadAsStringAsync());
        }

        Assert.Equal("region", await OriginAsync("mlp"));
        Assert.Equal("region", await OriginAsync("remote"));

        await _silo!.DisposeAsync();   // region gone: the local answer stands, a model not here cannot be answered
        Assert.Equal("edge", await OriginAsync("mlp"));
        var missing = await PredictAsync("remote");
        Assert.Equal(503, missing.Status);
        Assert.Contains("model 'remote' is not on this device and the region could not answer", missing.Body);

        await StartSiloAsync();
        await WaitForDeviceAsync("cam-fb", "results: 3 synced, applied through 3", TimeSpan.FromSeconds(60));
        var events = await Mesh("events", "tail", "--stream", "device/cam-fb", "--json");
        var origins = events.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("Type").GetString() == "device.results-synced")
            .SelectMany(e => e.GetProperty("Data").GetProperty("results").EnumerateArray())
            .OrderBy(r => r.GetProperty("sequence").GetInt64())
            .Select(r => $"{r.GetProperty("model").GetString()}:{r.GetProperty("origin").GetString()}");
        Assert.Equal(["mlp:region", "remote:region", "mlp:edge"], origins);
    }

    /// <summary>An infer request of <paramref name="rows"/> rows of 64 values drawn from N(mean, 1), seeded.</summary>
    private static string Rows(int rows, double mean, int seed)
    {
        var random = new Random(seed);
        var values = Enumerable.Range(0, rows * 64).Select(_ =>
        {
            // Box-Muller: a normal sample from two uniform ones.
            var (u1, u2) = (1 - random.NextDouble(), random.NextDouble());
            return (mean + Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        });
        return $$"""{"inputs":[{"name":"input","shape":[{{rows}},64],"datatype":"FP32","data":[{{string.Join(",", values)}}]}]}""";
    }

    [Fact]
    public async Task Drift_is_raised_for_a_shifted_input_distribution_and_not_for_an_unshifted_one()
    {
        Assert.Equal(0, (await Mesh("deploy", "mlp", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
        var sample = Path.Combine(_root, "baseline.json");
        Directory.CreateDirectory(_root);
        await File.WriteAllTextAsync(sample, Rows(2000, 0, seed: 1));
        var baseline = await Mesh("drift", "baseline", "mlp", sample);
        Assert.True(baseline.ExitCode == 0, baseline.Stderr);
        Assert.Contains("drift baseline of 64 features over 2000 rows", baseline.Stdout);

        // One of the two bridges trades power-cut durability for latency; sync and drift are the same.
        var settings = new Dictionary<string, string> { ["Mesh__Edge__Sync__DriftInterval"] = "00:00:00.200" };
        await using var steady = await StartBridgeAsync("cam-same", await RegisterAsync("cam-same"), Path.Combine(_root, "cam-same"), settings);
        await using var shifted = await StartBridgeAsync("cam-moved", await RegisterAsync("cam-moved"), Path.Combine(_root, "cam-moved"),
            new(settings) { ["Mesh__Edge__Outbox__Durability"] = "Normal" });
        Assert.Equal("FULL", (await steady.StatusAsync()).GetProperty("durability").GetString());
        Assert.Equal("NORMAL", (await shifted.StatusAsync()).GetProperty("durability").GetString());
        using (var http = new HttpClient())
        {
            for (var i = 0; i < 24; i++)
            {
                using var same = await http.PostAsync($"http://127.0.0.1:{steady.Http}/v2/models/mlp/infer", new StringContent(Rows(50, 0, seed: 100 + i)));
                Assert.True(same.IsSuccessStatusCode, await same.Content.ReadAsStringAsync());
                using var moved = await http.PostAsync($"http://127.0.0.1:{shifted.Http}/v2/models/mlp/infer", new StringContent(Rows(50, 1.5, seed: 200 + i)));
                Assert.True(moved.IsSuccessStatusCode, await moved.Content.ReadAsStringAsync());
            }
        }

        var watch = Stopwatch.StartNew();
        string report = "";
        while (watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            report = (await Mesh("drift", "mlp")).Stdout;
            if (report.Contains("DRIFTED") && System.Text.RegularExpressions.Regex.IsMatch(report, @"cam-same\s+1200\s")) break;
            await Task.Delay(300);
        }
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(report, @"cam-moved\s+1200\s+\d+\.\d+\s+input\[\d+\]\s+DRIFTED"), report);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(report, @"cam-same\s+1200\s+0\.0\d\d\s+input\[\d+\]\s+ok"), report);

        static async Task<string[]> TypesAsync(Func<string[], Task<(int, string, string)>> mesh, string device) =>
            (await mesh(["events", "tail", "--stream", "device/" + device, "--json"])).Item2
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("Type").GetString()!).ToArray();
        Assert.Contains("device.drift-detected", await TypesAsync(Mesh, "cam-moved"));
        Assert.DoesNotContain("device.drift-detected", await TypesAsync(Mesh, "cam-same"));
        Assert.Matches(@"cam-moved .*mlp\s*$", (await Mesh("devices")).Stdout.Split('\n').Single(l => l.StartsWith("cam-moved")));
    }

    private async Task<string> UpdateOutcomeAsync(string device, string expected)
    {
        var watch = Stopwatch.StartNew();
        var outcome = "";
        while (watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            outcome = (await Mesh("device", device)).Stdout.Split('\n').FirstOrDefault(l => l.Contains("model.mlp.update = ")) ?? "";
            if (outcome.Contains(expected, StringComparison.Ordinal)) return outcome;
            await Task.Delay(200);
        }
        Assert.Fail($"device {device} did not report an update outcome with '{expected}'; last: '{outcome}'");
        return "";
    }

    [Fact]
    public async Task With_a_signing_key_only_updates_whose_signature_verifies_are_installed()
    {
        using var signing = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        using var other = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        Directory.CreateDirectory(_root);
        var (privateKey, publicKey, wrongKey) = (Path.Combine(_root, "signing.pem"), Path.Combine(_root, "signing.pub.pem"), Path.Combine(_root, "other.pub.pem"));
        await File.WriteAllTextAsync(privateKey, signing.ExportPkcs8PrivateKeyPem());
        await File.WriteAllTextAsync(publicKey, signing.ExportSubjectPublicKeyInfoPem());
        await File.WriteAllTextAsync(wrongKey, other.ExportSubjectPublicKeyInfoPem());
        await _silo!.DisposeAsync();
        await StartSiloAsync(new() { ["Mesh__Gateway__ArtifactSigningKey"] = privateKey });

        var v2 = Path.Combine(_root, "v2.onnx");
        await File.WriteAllBytesAsync(v2, global::Mesh.SampleModels.MlpModel.Build(new(Seed: 41)));
        Assert.Equal(0, (await Mesh("deploy", "mlp", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
        Assert.Equal(0, (await Mesh("deploy", "mlp", v2, "--no-default")).ExitCode);
        await using var trusting = await StartBridgeAsync("cam-signed", await RegisterAsync("cam-signed"), Path.Combine(_root, "cam-signed"),
            new() { ["Mesh__Edge__ArtifactPublicKey"] = publicKey });
        await using var mistrusting = await StartBridgeAsync("cam-other", await RegisterAsync("cam-other"), Path.Combine(_root, "cam-other"),
            new() { ["Mesh__Edge__ArtifactPublicKey"] = wrongKey });
        Assert.Equal(0, (await Mesh("devices", "assign", "cam-signed", "mlp", "2")).ExitCode);
        Assert.Equal(0, (await Mesh("devices", "assign", "cam-other", "mlp", "2")).ExitCode);

        await UpdateOutcomeAsync("cam-signed", "ok: version 2");
        Assert.Contains("the artifact's signature does not verify", await UpdateOutcomeAsync("cam-other", "failed: version 2"));
        Assert.Equal(1, (await mistrusting.StatusAsync()).GetProperty("models")[0].GetProperty("version").GetInt32());
    }
}
