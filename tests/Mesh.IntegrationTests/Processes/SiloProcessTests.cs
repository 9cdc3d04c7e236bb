using System.Text.Json;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.IntegrationTests.Processes;

/// <summary>
/// The silo as a user runs it (its own process, embedded default storage, loopback ports) driven by the
/// mesh CLI from other processes.
/// </summary>
[Trait("Category", "Process")]
public class SiloProcessTests : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mesh-tests", "process-" + Guid.NewGuid().ToString("N"));
    private readonly int _gatewayPort = MeshProcess.FreePort();
    private readonly int _siloPort = MeshProcess.FreePort();
    private readonly int _httpPort = MeshProcess.FreePort();
    private string Gateway => $"127.0.0.1:{_gatewayPort}";

    private MeshProcess StartSilo(IReadOnlyDictionary<string, string>? overrides = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["Mesh__Silo__SiloPort"] = _siloPort.ToString(),
            ["Mesh__Silo__GatewayPort"] = _gatewayPort.ToString(),
            ["Mesh__Gateway__HttpPort"] = _httpPort.ToString(),
            ["Mesh__Gateway__GrpcPort"] = MeshProcess.FreePort().ToString(),
            ["Mesh__Storage__DataDirectory"] = _data,
        };
        foreach (var (key, value) in overrides ?? new Dictionary<string, string>()) environment[key] = value;
        return MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [], environment);
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> Mesh(params string[] args) =>
        MeshProcess.RunCliAsync([.. args, "--gateway", Gateway]);

    [Fact]
    public async Task Silo_answers_deploy_and_predict_from_the_cli_and_keeps_its_registry_across_restarts()
    {
        await using (var silo = StartSilo())
        {
            await silo.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
            Assert.Contains($"gateway 127.0.0.1:{_gatewayPort}", silo.Stdout);

            // An empty registry gets the bundled sample right after start.
            var models = await Mesh("models");
            for (var i = 0; i < 50 && !models.Stdout.Contains("mlp"); i++)
            {
                await Task.Delay(200);
                models = await Mesh("models");
            }
            Assert.Equal(0, models.ExitCode);
            Assert.Contains("mlp", models.Stdout);

            var deploy = await Mesh("deploy", "fraud", TestModels.PathOf("fraud.onnx"));
            Assert.True(deploy.ExitCode == 0, deploy.Stderr);
            Assert.Contains("deployed fraud version 1", deploy.Stdout);
            Assert.Contains("input  Category: string", deploy.Stdout);

            var fraud = await Mesh("predict", "fraud",
                "-i", "Amount=2x1:950,42.5", "-i", "Hour=2x1:3,13", "-i", "DistanceKm=2x1:1500,3.2",
                "-i", "RecentCount=2x1:6,0", "-i", "Foreign=2x1:1,0", "-i", "Category=2x1:electronics,grocery",
                "-o", "PredictedLabel.output", "--format", "json");
            Assert.True(fraud.ExitCode == 0, fraud.Stderr);
            using (var json = JsonDocument.Parse(fraud.Stdout))
            {
                var output = Assert.Single(json.RootElement.GetProperty("outputs").EnumerateArray());
                Assert.Equal("BOOL", output.GetProperty("datatype").GetString());
                Assert.Equal([true, false], output.GetProperty("data").EnumerateArray().Select(v => v.GetBoolean()));
            }

            var fromFile = await Mesh("predict", "fraud", "--json", TestModels.PathOf("fraud.json"));
            Assert.True(fromFile.ExitCode == 0, fromFile.Stderr);
            Assert.Contains("PredictedLabel.output: bool [2,1]", fromFile.Stdout);
            Assert.Contains("  True\n  False", fromFile.Stdout.ReplaceLineEndings("\n"));
            Assert.DoesNotContain("Features.output", fromFile.Stdout);

            var row = MlpModel.SampleInput(1);
            var mlp = await Mesh("predict", "mlp", "--input", $"input=1x64:{string.Join(",", row.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}", "--format", "json");
            Assert.True(mlp.ExitCode == 0, mlp.Stderr);
            using (var json = JsonDocument.Parse(mlp.Stdout))
            {
                var served = json.RootElement.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
                Assert.Equal(Reference(TestModels.Mlp, row), served);
            }

            var text = await Mesh("predict", "mlp", "--input", $"input=1x64:{string.Join(",", row)}");
            Assert.Equal(0, text.ExitCode);
            Assert.Contains("probabilities: float32 [1,10]", text.Stdout);

            var badShape = await Mesh("predict", "mlp", "--input", $"input=1x63:{string.Join(",", row[..63])}");
            Assert.Equal(1, badShape.ExitCode);
            Assert.Equal("error: input 'input': dimension 1 must be 64, got 63 (expected shape [-1,64], got [1,63])", badShape.Stderr.Trim());

            var unknown = await Mesh("predict", "nope", "--input", "x=1:1");
            Assert.Equal(1, unknown.ExitCode);
            Assert.Equal("error: model 'nope' is not deployed", unknown.Stderr.Trim());

            var corrupt = Path.Combine(_data, "corrupt.onnx");
            await File.WriteAllBytesAsync(corrupt, TestModels.Mlp[..1000]);
            var rejected = await Mesh("deploy", "broken", corrupt);
            Assert.Equal(1, rejected.ExitCode);
            Assert.StartsWith("error: model 'broken': the file is not a model ONNX Runtime can load", rejected.Stderr.Trim());

            // The same through the HTTP gateway.
            var http = $"http://127.0.0.1:{_httpPort}";
            var httpModels = await MeshProcess.RunCliAsync("models", "--http", http);
            Assert.True(httpModels.ExitCode == 0, httpModels.Stderr);
            Assert.Contains("fraud", httpModels.Stdout);
            var httpPredict = await MeshProcess.RunCliAsync("predict", "fraud", "--http", http,
                "-i", "Amount=1x1:950", "-i", "Hour=1x1:3", "-i", "DistanceKm=1x1:1500", "-i", "RecentCount=1x1:6", "-i", "Foreign=1x1:1", "-i", "Category=1x1:electronics",
                "-o", "PredictedLabel.output");
            Assert.True(httpPredict.ExitCode == 0, httpPredict.Stderr);
            Assert.Contains("PredictedLabel.output: bool [1,1]\n  True", httpPredict.Stdout.ReplaceLineEndings("\n"));
            var httpBad = await MeshProcess.RunCliAsync("predict", "mlp", "--http", http, "--input", "input=1x3:1,2,3");
            Assert.Equal(1, httpBad.ExitCode);
            Assert.Equal("error: input 'input': dimension 1 must be 64, got 3 (expected shape [-1,64], got [1,3])", httpBad.Stderr.Trim());

            // Serving policy, load generation and metering from the command line.
            var policy = await Mesh("policy", "mlp", "--max-batch", "8", "--queue", "64");
            Assert.True(policy.ExitCode == 0, policy.Stderr);
            Assert.Contains("model mlp policy: max batch 8, max queue delay 0 us, queue 64", policy.Stdout);
            var bench = await Mesh("bench", "mlp", "-c", "1", "4", "-n", "40", "--json");
            Assert.True(bench.ExitCode == 0, bench.Stderr);
            using (var results = JsonDocument.Parse(bench.Stdout))
            {
                Assert.Equal([1, 4], results.RootElement.EnumerateArray().Select(r => r.GetProperty("Concurrency").GetInt32()));
                Assert.All(results.RootElement.EnumerateArray(), r =>
                {
                    Assert.Equal((40, 0), (r.GetProperty("Requests").GetInt32(), r.GetProperty("Errors").GetInt32()));
                    Assert.True(r.GetProperty("P99Ms").GetDouble() >= r.GetProperty("P50Ms").GetDouble());
                });
            }
            var httpBench = await MeshProcess.RunCliAsync("bench", "mlp", "-t", "http", "--http", http, "-c", "2", "-n", "20");
            Assert.True(httpBench.ExitCode == 0, httpBench.Stderr);
            Assert.Matches(@"http\s+2\s+20\s+0\s", httpBench.Stdout);
            string usage = "";
            for (var i = 0; i < 30 && !usage.Contains("anonymous"); i++)
            {
                await Task.Delay(200);
                usage = (await Mesh("usage")).Stdout;
            }
            Assert.Contains("CALLER", usage);
            Assert.Matches(@"anonymous\s+\d+\s+\d+", usage);

            var model = await Mesh("model", "fraud");
            Assert.Equal(0, model.ExitCode);
            Assert.Contains("model fraud, default version 1", model.Stdout);

            Assert.Equal(0, await silo.TerminateAsync(TimeSpan.FromSeconds(30)));
        }

        await using (var restarted = StartSilo())
        {
            await restarted.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
            var models = await Mesh("models");
            Assert.Equal(0, models.ExitCode);
            Assert.Contains("fraud", models.Stdout);
            Assert.Contains("mlp", models.Stdout);
            Assert.DoesNotContain("broken", models.Stdout);
            Assert.Equal(0, await restarted.TerminateAsync(TimeSpan.FromSeconds(30)));
        }
    }

    [Fact]
    public async Task A_killed_silo_restarts_with_versions_traffic_split_policy_and_lineage_from_its_events()
    {
        Directory.CreateDirectory(_data);
        var v2 = Path.Combine(_data, "v2.onnx");
        await File.WriteAllBytesAsync(v2, MlpModel.Build(new MlpModel.Options(Seed: 2)));
        string before;
        await using (var silo = StartSilo())
        {
            await silo.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
            Assert.Equal(0, (await Mesh("deploy", "life", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
            var deploy = await Mesh("deploy", "life", v2, "--no-default", "--parent", "1", "--optimization", "none", "--notes", "seed 2");
            Assert.True(deploy.ExitCode == 0, deploy.Stderr);
            var traffic = await Mesh("traffic", "life", "v2=10", "v1=90");
            Assert.True(traffic.ExitCode == 0, traffic.Stderr);
            Assert.Contains("model life: traffic v1=90% v2=10%", traffic.Stdout);
            Assert.Equal(0, (await Mesh("policy", "life", "--max-batch", "8")).ExitCode);
            var bad = await Mesh("traffic", "life", "v2=10", "v1=80");
            Assert.Equal(1, bad.ExitCode);
            Assert.Equal("error: model 'life' traffic split: the weights sum to 90, not 100; nothing was changed", bad.Stderr.Trim());
            before = (await Mesh("model", "life")).Stdout;
            Assert.Contains("traffic: v1=90% v2=10%", before);
            // Killed, not stopped: nothing gets a chance to flush.
        }

        await using (var restarted = StartSilo())
        {
            await restarted.WaitForOutputAsync("Mesh silo ready:", StartTimeout);
            var model = await Mesh("model", "life");
            Assert.True(model.ExitCode == 0, model.Stderr);
            Assert.Equal(before, model.Stdout);
            Assert.Contains("policy: max batch 8", model.Stdout);
            var lineage = await Mesh("lineage", "life");
            Assert.Matches(@"\s+2\s+1\s+[0-9a-f]{16}\s+none\s+-\s+10%\s+seed 2", lineage.Stdout);
            // Predicts route by the split that came back: both versions answer (90/10 over 200 requests).
            Assert.Equal(["1", "2"], await MeshProcess.ServedVersionsAsync(_httpPort, "life", enough: 2));
            var rollback = await Mesh("rollback", "life");
            Assert.Contains("model life: rolled back; version 1 takes all traffic", rollback.Stdout);

            // The log behind it, from the command line.
            var audit = await Mesh("audit", "--model", "life");
            Assert.True(audit.ExitCode == 0, audit.Stderr);
            Assert.Matches(@"cli:\S+\s+local\s+model/life\s+version 2 registered \(sha256 [0-9a-f]{12}, \d+ bytes, parent 1, none\)", audit.Stdout);
            Assert.Contains("traffic v1=90% v2=10%", audit.Stdout);
            Assert.Contains("rolled back from version 2 to 1", audit.Stdout);
            var tail = await Mesh("events", "tail", "--stream", "model/life", "--json");
            Assert.True(tail.ExitCode == 0, tail.Stderr);
            var lines = tail.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(["model.version-registered", "model.version-registered", "model.traffic-split-set", "model.policy-changed", "model.rolled-back"],
                lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("Type").GetString()));
            var rebuilt = await Mesh("projection", "rebuild", "catalog");
            Assert.True(rebuilt.ExitCode == 0, rebuilt.Stderr);
            Assert.Matches(@"projection catalog rebuilt up to position \d+", rebuilt.Stdout);
            Assert.Equal(2, (await Mesh("events", "tail", "--from", "soon")).ExitCode);
            Assert.Equal(0, await restarted.TerminateAsync(TimeSpan.FromSeconds(30)));
        }
    }

    [Theory]
    [InlineData("Mesh__Silo__GatewayPort", "0", "Mesh:Silo:GatewayPort must be a port from 1 to 65535 (was 0)")]
    [InlineData("Mesh__Silo__GatewayListenPort", "70000", "Mesh:Silo:GatewayListenPort must be a port from 1 to 65535 (was 70000)")]
    [InlineData("Mesh__Inference__IdleTimeout", "00:00:00", "Mesh:Inference:IdleTimeout must be positive")]
    [InlineData("Mesh__Inference__IdleTimeout", "soon", "Mesh:Inference:IdleTimeout")]
    [InlineData("Mesh__Telemetry__Exporters__0", "zipkin", "Mesh:Telemetry:Exporters:0 must be one of console, otlp")]
    public async Task Bad_setting_stops_the_silo_at_start_naming_the_key(string variable, string value, string message)
    {
        await using var silo = StartSilo(new Dictionary<string, string> { [variable] = value });
        Assert.Equal(2, await silo.WaitForExitAsync(StartTimeout));
        Assert.Contains("configuration error:", silo.Stderr);
        Assert.Contains(message, silo.Stderr);
    }

    [Fact]
    public async Task Cli_reports_an_unreachable_gateway_with_its_own_exit_code()
    {
        var result = await MeshProcess.RunCliAsync("models", "--gateway", Gateway, "--connect-timeout", "1");
        Assert.Equal(3, result.ExitCode);
        Assert.StartsWith($"error: cannot reach the mesh gateway at {Gateway}", result.Stderr.Trim());
    }

    [Fact]
    public async Task Cli_makes_api_keys_and_prints_only_the_hash_for_configuration()
    {
        var result = await MeshProcess.RunCliAsync("keys", "new", "--name", "ops", "--role", "admin");
        Assert.Equal(0, result.ExitCode);
        var key = result.Stdout.Split('\n')[0]["key:".Length..].Trim();
        Assert.StartsWith("mesh_", key);
        var hash = global::Mesh.Protocol.ApiKeys.Hash(key);
        Assert.Contains($"{{ \"Name\": \"ops\", \"Sha256\": \"{hash}\", \"Role\": \"admin\" }}", result.Stdout);
        Assert.DoesNotContain(key, result.Stdout.Split('\n')[3]);
    }

    [Fact]
    public async Task Cli_usage_errors_exit_non_zero_with_a_message()
    {
        var missing = await MeshProcess.RunCliAsync("deploy", "m", "/no/such/file.onnx", "--gateway", Gateway);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("FILE: no file at /no/such/file.onnx", missing.Stderr);

        var neither = await MeshProcess.RunCliAsync("predict", "m", "--gateway", Gateway);
        Assert.Equal(2, neither.ExitCode);
        Assert.Contains("give the inputs either with --input", neither.Stderr);
    }

    private static float[] Reference(byte[] model, float[] row)
    {
        using var session = new InferenceSession(model);
        using var value = OrtValue.CreateTensorValueFromMemory(row, [1, 64]);
        using var result = session.Run(new RunOptions(), [MlpModel.InputName], [value], [MlpModel.OutputName]);
        return result[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose()
    {
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }
}
