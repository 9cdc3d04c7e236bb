using System.Text.Json;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;

namespace Mesh.IntegrationTests.Processes;

/// <summary>
/// The mesh CLI as a user meets it, each behaviour through the CLI process against a silo process: one transport
/// choice, exit code 2 for any bad command line, durations as people write them, clear words for the cases that
/// used to mislead (a wrong cluster, a retired version's bytes), routing keys, usage rows and shadow agreement.
/// </summary>
[Trait("Category", "Process")]
public class CliProcessTests : SiloProcessTest
{
    private string WriteModel(string name, int seed)
    {
        var path = Path.Combine(Root, name);
        File.WriteAllBytes(path, MlpModel.Build(new MlpModel.Options(Seed: seed)));
        return path;
    }

    [Fact]
    public async Task Http_serves_the_commands_it_can_and_the_others_refuse_it_by_name()
    {
        var deployed = await Mesh("deploy", "over-http", TestModels.PathOf("echo.onnx"), "--http", Http);
        Assert.True(deployed.ExitCode == 0, deployed.Stderr);
        Assert.Contains("deployed over-http version 1", deployed.Stdout);
        Assert.Contains("input  text: string", deployed.Stdout);
        // The version really is in the mesh, as the Orleans gateway sees it.
        Assert.Contains("model over-http, default version 1", (await Mesh("model", "over-http")).Stdout);

        var lineage = await Mesh("deploy", "over-http", TestModels.PathOf("mlp-small.onnx"), "--http", Http, "--notes", "x");
        Assert.Equal(2, lineage.ExitCode);
        Assert.Contains("the HTTP API does not carry lineage", lineage.Stderr);

        foreach (var command in new[] { new[] { "audit" }, ["usage"], ["lineage", "over-http"], ["policy", "over-http"], ["regions"] })
        {
            var refused = await Mesh([.. command, "--http", Http]);
            Assert.Equal(2, refused.ExitCode);
            Assert.Contains($"'{command[0]}' is not served by the HTTP API (--http {Http}); it needs the Orleans gateway", refused.Stderr);
        }

        // gRPC load needs nothing but the gRPC endpoint: the signature comes over gRPC too.
        var bench = await MeshProcess.RunCliAsync("bench", "over-http", "-t", "grpc", "--grpc", $"http://127.0.0.1:{GrpcPort}", "-n", "20", "--json");
        Assert.True(bench.ExitCode == 0, bench.Stderr);
        using var results = JsonDocument.Parse(bench.Stdout);
        Assert.Equal((20, 0), (results.RootElement[0].GetProperty("Requests").GetInt32(), results.RootElement[0].GetProperty("Errors").GetInt32()));
    }

    [Fact]
    public async Task A_bad_command_line_exits_2_and_durations_read_as_people_write_them()
    {
        var noInputs = await Mesh("predict", "mlp");
        Assert.Equal(2, noInputs.ExitCode);
        Assert.Contains("error: give the inputs either with --input", noInputs.Stderr);
        Assert.Equal(2, (await Mesh("no-such-command")).ExitCode);

        await Mesh("deploy", "timed", TestModels.PathOf("mlp-small.onnx"));
        foreach (var (text, shown) in new[] { ("5s", "00:00:05"), ("250ms", "00:00:00.2500000"), ("00:00:05", "00:00:05"), ("2m", "00:02:00") })
        {
            var policy = await Mesh("policy", "timed", "--idle-timeout", text);
            Assert.True(policy.ExitCode == 0, policy.Stderr);
            Assert.Contains($"idle timeout {shown}", policy.Stdout);
        }
        var bad = await Mesh("policy", "timed", "--idle-timeout", "5x");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--idle-timeout: '5x' is not a duration", bad.Stderr);
        Assert.DoesNotContain("System.", bad.Stderr);

        var help = await Mesh("drift", "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("mesh drift <NAME> [command] [options]", help.Stdout);
        Assert.DoesNotContain("baseline <NAME>", help.Stdout.Split("Commands:")[0]);
    }

    [Fact]
    public async Task A_wrong_cluster_is_named_as_such()
    {
        var wrong = await MeshProcess.RunCliAsync("models", "--gateway", Gateway, "--cluster", "elsewhere");
        Assert.Equal(3, wrong.ExitCode);
        Assert.Contains($"the gateway at 127.0.0.1:{GatewayPort} answered but refused this client: it serves another cluster than 'elsewhere'", wrong.Stderr);
    }

    [Fact]
    public async Task Deploying_the_bytes_of_an_existing_version_says_so_and_a_retired_one_is_refused()
    {
        var first = WriteModel("first.onnx", seed: 21);
        Assert.Equal(0, (await Mesh("deploy", "again", first)).ExitCode);
        Assert.Equal(0, (await Mesh("deploy", "again", WriteModel("second.onnx", seed: 22))).ExitCode);

        var same = await Mesh("deploy", "again", WriteModel("second-copy.onnx", seed: 22));
        Assert.True(same.ExitCode == 0, same.Stderr);
        Assert.Contains("again version 2 already holds these bytes", same.Stdout);
        Assert.Contains("nothing new was registered", same.Stdout);

        Assert.Equal(0, (await Mesh("retire", "again", "1")).ExitCode);
        var retired = await Mesh("deploy", "again", first);
        Assert.Equal(1, retired.ExitCode);
        Assert.Contains("model 'again': these bytes are version 1", retired.Stderr);
        Assert.Contains("which is retired", retired.Stderr);
    }

    [Fact]
    public async Task Predict_takes_a_routing_key_that_keeps_one_version_of_a_split()
    {
        Assert.Equal(0, (await Mesh("deploy", "split", WriteModel("a.onnx", seed: 31))).ExitCode);
        Assert.Equal(0, (await Mesh("deploy", "split", WriteModel("b.onnx", seed: 32), "--no-default")).ExitCode);
        Assert.Equal(0, (await Mesh("traffic", "split", "v1=50", "v2=50")).ExitCode);
        var zeros = "input=1x64:" + string.Join(",", new float[64]);
        foreach (var key in new[] { "user-1", "user-2" })
        {
            var versions = new HashSet<string>();
            for (var i = 0; i < 8; i++)
            {
                var answer = await Mesh("predict", "split", "--input", zeros, "--routing-key", key);
                Assert.True(answer.ExitCode == 0, answer.Stderr);
                versions.Add(answer.Stdout.Split('\n')[0].Replace(" (cold start)", ""));
            }
            Assert.Single(versions);
        }
    }

    [Fact]
    public async Task Audit_names_every_change_in_words()
    {
        var sample = Path.Combine(Root, "baseline.json");
        var rows = MlpModel.SampleInput(64, seed: 3);
        await File.WriteAllTextAsync(sample, $$"""{"inputs":[{"name":"input","shape":[64,64],"datatype":"FP32","data":[{{string.Join(",", rows.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}]}]}""");
        Assert.Equal(0, (await Mesh("deploy", "audited", TestModels.PathOf("mlp-small.onnx"))).ExitCode);
        var baseline = await Mesh("drift", "baseline", "audited", sample);
        Assert.True(baseline.ExitCode == 0, baseline.Stderr);
        var audit = await Mesh("audit", "--model", "audited");
        Assert.Contains("drift baseline set (64 features, threshold PSI 0.2)", audit.Stdout);
        Assert.DoesNotContain("ModelDriftBaselineSet", audit.Stdout);
    }

    [Fact]
    public async Task Usage_counts_every_row_of_a_model_that_does_not_batch()
    {
        // Its own silo, so its usage table holds only this test's predicts.
        await using var silo = MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [],
            MeshProcess.SiloSettings(MeshProcess.FreePort(), MeshProcess.FreePort(), Path.Combine(Root, "usage-silo")));
        await silo.WaitForOutputAsync("Mesh silo ready:", TimeSpan.FromSeconds(60));
        var gateway = System.Text.RegularExpressions.Regex.Match(silo.Stdout, @"orleans gateway (\S+),").Groups[1].Value;
        Task<(int ExitCode, string Stdout, string Stderr)> Cli(params string[] args) => MeshProcess.RunCliAsync([.. args, "--gateway", gateway]);

        Assert.Equal(0, (await Cli("deploy", "fraud", TestModels.PathOf("fraud.onnx"))).ExitCode);
        for (var i = 0; i < 3; i++)
        {
            var predict = await Cli("predict", "fraud", "--json", TestModels.PathOf("fraud.json"));
            Assert.True(predict.ExitCode == 0, predict.Stderr);
        }
        // Usage is flushed by the silos about every second.
        var usage = "";
        for (var i = 0; i < 50 && !System.Text.RegularExpressions.Regex.IsMatch(usage, @"anonymous\s+3\s"); i++)
        {
            await Task.Delay(200);
            usage = (await Cli("usage")).Stdout;
        }
        Assert.Matches(@"anonymous\s+3\s+6\s", usage);
    }

    [Fact]
    public async Task Shadow_agreement_shows_in_the_model_the_lineage_and_the_console()
    {
        Assert.Equal(0, (await Mesh("deploy", "shadowed", WriteModel("served.onnx", seed: 41))).ExitCode);
        Assert.Equal(0, (await Mesh("deploy", "shadowed", WriteModel("candidate.onnx", seed: 42), "--no-default")).ExitCode);
        Assert.Equal(0, (await Mesh("shadow", "shadowed", "v2")).ExitCode);
        Assert.Contains("shadow v2: no answers compared yet", (await Mesh("model", "shadowed")).Stdout);

        var zeros = "input=1x64:" + string.Join(",", new float[64]);
        for (var i = 0; i < 3; i++) Assert.Equal(0, (await Mesh("predict", "shadowed", "--input", zeros)).ExitCode);
        // Other weights answer otherwise: 0 of 3 agree. Silos publish their figures every second.
        var model = "";
        for (var i = 0; i < 50 && !model.Contains("of 3"); i++)
        {
            await Task.Delay(200);
            model = (await Mesh("model", "shadowed")).Stdout;
        }
        Assert.Contains("shadow v2: agreed 0 of 3 (0.0 %), 0 failed", model);
        Assert.Contains("shadow agreed 0 of 3 (0.0 %), 0 failed", (await Mesh("lineage", "shadowed")).Stdout);

        using var http = new HttpClient { BaseAddress = new Uri(Http) };
        using var overview = JsonDocument.Parse(await http.GetStringAsync("/console/api/overview"));
        var shadowed = overview.RootElement.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("name").GetString() == "shadowed");
        var agreement = shadowed.GetProperty("shadowAgreement");
        Assert.Equal((2, 3, 0), (agreement.GetProperty("version").GetInt32(), agreement.GetProperty("compared").GetInt64(), agreement.GetProperty("agreed").GetInt64()));
    }
}
