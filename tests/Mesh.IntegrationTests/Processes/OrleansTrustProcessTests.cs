using System.Diagnostics;
using Mesh.Protocol;
using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Processes;

/// <summary>
/// The Orleans side of the trust model, through the CLI against silo processes: with Mesh:Silo:Tls and API keys on,
/// a client needs a certificate of the mesh's authority to connect and a key to act; the key's role decides what it
/// may do, and the audit log names the key, not the name the client gives. Two regions replicate over mutual TLS.
/// </summary>
[Trait("Category", "Process")]
public sealed class OrleansTrustProcessTests : IAsyncLifetime
{
    private const string AdminKey = "trust-admin-key-0123456789";
    private const string InferKey = "trust-infer-key-0123456789";
    private const string RegionKey = "trust-region-key-0123456789";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mesh-tests", $"trust-{Guid.NewGuid():N}");
    private readonly List<MeshProcess> _silos = [];
    private TestCertificates _ca = null!;

    public Task InitializeAsync()
    {
        _ca = new TestCertificates(Path.Combine(_root, "pki"));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var silo in _silos) await silo.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private async Task<(int Gateway, int Http)> StartSiloAsync(string cluster, (string Name, int Gateway)? peer = null, int? gatewayPort = null)
    {
        var (gateway, http) = (gatewayPort ?? MeshProcess.FreePort(), MeshProcess.FreePort());
        var (certificate, key) = _ca.Issue("silo-" + cluster);
        var settings = MeshProcess.SiloSettings(gateway, http, Path.Combine(_root, cluster));
        settings["Mesh__Silo__ClusterId"] = cluster;
        settings["Mesh__Silo__DeploySampleModel"] = "false";
        settings["Mesh__Silo__Tls__CertificatePath"] = certificate;
        settings["Mesh__Silo__Tls__KeyPath"] = key;
        settings["Mesh__Silo__Tls__CaPath"] = _ca.CaPath;
        MeshProcess.AddApiKeys(settings, ("ops", AdminKey, "admin"), ("app", InferKey, "infer"), ("region-link", RegionKey, "admin"));
        if (peer is { } p)
        {
            settings["Mesh__Regions__Peers__0__Name"] = p.Name;
            settings["Mesh__Regions__Peers__0__Gateway"] = $"127.0.0.1:{p.Gateway}";
            settings["Mesh__Regions__PeerApiKey"] = RegionKey;
        }
        var silo = MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [], settings);
        _silos.Add(silo);
        await silo.WaitForOutputAsync("Mesh trust:", TimeSpan.FromSeconds(60));
        Assert.Contains("mutual TLS on the silo port, the Orleans gateway and region links", silo.Stdout);
        return (gateway, http);
    }

    private Dictionary<string, string> Client(string? key, string? certificateName = "cli", TestCertificates? authority = null)
    {
        var environment = new Dictionary<string, string> { ["MESH_API_KEY"] = key ?? "", ["MESH_ACTOR"] = "someone-else" };
        if (certificateName is not null)
        {
            var (certificate, privateKey) = (authority ?? _ca).Issue(certificateName);
            (environment["MESH_TLS_CERT"], environment["MESH_TLS_KEY"], environment["MESH_TLS_CA"]) = (certificate, privateKey, _ca.CaPath);
        }
        return environment;
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> Mesh(Dictionary<string, string> client, int gateway, string cluster, params string[] args) =>
        MeshProcess.RunCliAsync(client, [.. args, "--gateway", $"127.0.0.1:{gateway}", "--cluster", cluster, "--connect-timeout", "5"]);

    [Fact]
    public async Task A_client_needs_a_certificate_of_the_meshs_authority_to_connect_and_a_key_with_the_right_role_to_act()
    {
        var (gateway, _) = await StartSiloAsync("secure");
        var model = TestModels.PathOf("mlp-small.onnx");

        // No certificate, or one from another authority: no connection at all.
        var plain = await Mesh(Client(AdminKey, certificateName: null), gateway, "secure", "models");
        Assert.True(plain.ExitCode == 3, $"{plain.ExitCode}: {plain.Stdout}{plain.Stderr}");
        var rogue = await Mesh(Client(AdminKey, "rogue", new TestCertificates(Path.Combine(_root, "rogue-pki"), "rogue-ca")), gateway, "secure", "deploy", "mlp", model);
        Assert.True(rogue.ExitCode == 3, $"{rogue.ExitCode}: {rogue.Stdout}{rogue.Stderr}");

        // A certificate without a key: connected, but nothing is done.
        var keyless = await Mesh(Client(null), gateway, "secure", "deploy", "mlp", model);
        Assert.Equal(1, keyless.ExitCode);
        Assert.Contains("needs an API key this mesh knows", keyless.Stderr);
        var guessed = await Mesh(Client("guess"), gateway, "secure", "events", "tail");
        Assert.Equal(1, guessed.ExitCode);
        Assert.Contains("needs an API key this mesh knows", guessed.Stderr);

        // An admin key deploys; the audit log names the key ("ops"), not the MESH_ACTOR the client set.
        var deployed = await Mesh(Client(AdminKey), gateway, "secure", "deploy", "mlp", model);
        Assert.True(deployed.ExitCode == 0, deployed.Stderr);
        var audit = await Mesh(Client(AdminKey), gateway, "secure", "audit", "--model", "mlp");
        Assert.True(audit.ExitCode == 0, audit.Stderr);
        Assert.Contains("ops", audit.Stdout);
        Assert.DoesNotContain("someone-else", audit.Stdout);
        var events = await Mesh(Client(AdminKey), gateway, "secure", "events", "tail", "--stream", "model/mlp");
        Assert.True(events.ExitCode == 0 && events.Stdout.Contains("mlp"), $"{events.ExitCode}: {events.Stdout}{events.Stderr}");

        // An infer key predicts and reads models, and may not deploy, read the event feed or register devices.
        var input = "input=1x64:" + string.Join(",", new float[64]);
        var predicted = await Mesh(Client(InferKey), gateway, "secure", "predict", "mlp", "--input", input);
        Assert.True(predicted.ExitCode == 0, predicted.Stderr);
        Assert.Equal(0, (await Mesh(Client(InferKey), gateway, "secure", "models")).ExitCode);
        foreach (var args in new[] { new[] { "deploy", "mlp", model }, ["events", "tail"], ["devices", "register", "cam-1", "--home", "secure", "--model", "mlp"] })
        {
            var refused = await Mesh(Client(InferKey), gateway, "secure", args);
            Assert.True(refused.ExitCode == 1, $"{string.Join(' ', args)}: {refused.ExitCode} {refused.Stdout}{refused.Stderr}");
            Assert.Contains("the key 'app' has the role 'infer'; this call needs 'admin'", refused.Stderr);
        }
    }

    [Fact]
    public async Task Two_regions_replicate_over_mutual_tls_with_the_regions_key()
    {
        var eastGateway = MeshProcess.FreePort();
        var westGateway = MeshProcess.FreePort();
        await Task.WhenAll(StartSiloAsync("east", ("west", westGateway), eastGateway), StartSiloAsync("west", ("east", eastGateway), westGateway));
        var deployed = await Mesh(Client(AdminKey), eastGateway, "east", "deploy", "shared", TestModels.PathOf("mlp-small.onnx"));
        Assert.True(deployed.ExitCode == 0, deployed.Stderr);
        var waiting = Stopwatch.StartNew();
        (int ExitCode, string Stdout, string Stderr) west = (0, "", "");
        while (waiting.Elapsed < TimeSpan.FromSeconds(30))
        {
            west = await Mesh(Client(InferKey), westGateway, "west", "models");
            if (west.Stdout.Contains("shared")) break;
            await Task.Delay(250);
        }
        Assert.True(west.Stdout.Contains("shared"), $"west never showed the model: {west.Stdout}{west.Stderr}");
        // The replicated deploy keeps who made it in east: the key's name, not the name the client gave.
        var audit = await Mesh(Client(AdminKey), westGateway, "west", "audit", "--model", "shared");
        Assert.Contains("ops", audit.Stdout);
        Assert.Contains("east", audit.Stdout);
        Assert.DoesNotContain("someone-else", audit.Stdout);
    }
}
