using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Protocol;
using Mesh.Client.Grpc;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;

namespace Mesh.IntegrationTests.Processes;

/// <summary>
/// One silo process with API keys on, small limits, the MLP and the echo model deployed and a device registered:
/// what the hostile-input table attacks.
/// </summary>
public sealed class HostileSilo : IAsyncLifetime
{
    public const string AdminKey = "hostile-admin-key-0123456789";
    public const string InferKey = "hostile-infer-key-0123456789";
    public const string Device = "hostile-cam";
    public const long MaxBody = 1 << 20;
    public const long MaxModel = 4 << 20;

    /// <summary>What the silo may hold at most while it is attacked: its models loaded, nothing an attacker sent.</summary>
    public const long ResidentBound = 1L << 30;

    private readonly string _root = Path.Combine(Path.GetTempPath(), "mesh-tests", $"hostile-{Guid.NewGuid():N}");
    private MeshProcess? _silo;
    private GrpcChannel? _channel;

    public int HttpPort { get; } = MeshProcess.FreePort();
    public int GrpcPort { get; } = MeshProcess.FreePort();
    public int GatewayPort { get; } = MeshProcess.FreePort();
    public HttpClient Http { get; private set; } = null!;
    public GRPCInferenceService.GRPCInferenceServiceClient Grpc { get; private set; } = null!;
    public string DeviceToken { get; private set; } = "";
    public MeshProcess Silo => _silo!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        var settings = MeshProcess.SiloSettings(GatewayPort, HttpPort, Path.Combine(_root, "silo"));
        settings["Mesh__Gateway__GrpcPort"] = GrpcPort.ToString();
        settings["Mesh__Gateway__MaxRequestBodyBytes"] = MaxBody.ToString();
        settings["Mesh__Gateway__MaxModelBytes"] = MaxModel.ToString();
        MeshProcess.AddApiKeys(settings, ("ops", AdminKey, "admin"), ("app", InferKey, "infer"));
        settings["Mesh__Silo__DeploySampleModel"] = "false";
        _silo = MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [], settings);
        await _silo.WaitForOutputAsync("Mesh silo ready:", TimeSpan.FromSeconds(60));

        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}"), Timeout = TimeSpan.FromSeconds(30) };
        _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{GrpcPort}", new GrpcChannelOptions { MaxSendMessageSize = 64 << 20 });
        Grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
        foreach (var (name, model) in new[] { ("mlp", MlpModel.Build()), ("echo", EchoModel.Build()) })
        {
            using var deploy = new HttpRequestMessage(HttpMethod.Post, $"/v2/repository/models/{name}/versions") { Content = new ByteArrayContent(model) };
            deploy.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
            using var deployed = await Http.SendAsync(deploy);
            Assert.Equal(HttpStatusCode.Created, deployed.StatusCode);
        }
        var registered = await MeshProcess.RunCliAsync(new Dictionary<string, string> { ["MESH_API_KEY"] = AdminKey }, "devices", "register", Device, "--home", "local", "--model", "mlp", "--token-only", "--gateway", $"127.0.0.1:{GatewayPort}");
        Assert.True(registered.ExitCode == 0, registered.Stderr);
        DeviceToken = registered.Stdout.Trim();
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        _channel?.Dispose();
        if (_silo is not null) await _silo.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    public Metadata Key(string key = AdminKey) => new() { { "authorization", $"Bearer {key}" } };

    /// <summary>A good predict, which must succeed after every hostile case.</summary>
    public async Task AssertServesAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/mlp/infer") { Content = Json(HostileInputProcessTests.GoodMlp) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", InferKey);
        using var response = await Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    public static ByteArrayContent Json(string json) => Json(Encoding.UTF8.GetBytes(json));

    public static ByteArrayContent Json(byte[] json)
    {
        var content = new ByteArrayContent(json);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }
}

/// <summary>
/// The hostile-input table: each row is an input sent to the REST, gRPC, device sync or upload surface, the status
/// it must get and the field (or header, or rule) its error must name. After every row the silo still serves a good
/// predict and its resident memory stays under <see cref="HostileSilo.ResidentBound"/>.
/// </summary>
[Trait("Category", "Process")]
public class HostileInputProcessTests(HostileSilo silo) : IClassFixture<HostileSilo>
{
    internal static readonly string Row = string.Join(",", MlpModel.SampleInput(1).Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
    internal static readonly string GoodMlp = MlpJson($"[{Row}]");
    private static readonly byte[] NotUtf8 = [0xC3, 0x28];

    private static string MlpJson(string data, string shape = "[1,64]", string extra = "") =>
        $$"""{{{extra}}"inputs":[{"name":"input","shape":{{shape}},"datatype":"FP32","data":{{data}}}]}""";

    private static string EchoText(string data, string shape = "[1,3]") =>
        $$"""{"inputs":[{"name":"text","shape":{{shape}},"datatype":"BYTES","data":{{data}}}]}""";

    // "{X}" in the template becomes two bytes that are not UTF-8.
    private static byte[] WithBadUtf8(string template)
    {
        var at = template.IndexOf("{X}", StringComparison.Ordinal);
        return [.. Encoding.UTF8.GetBytes(template[..at]), .. NotUtf8, .. Encoding.UTF8.GetBytes(template[(at + 3)..])];
    }

    private static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest)) gzip.Write(data);
        return buffer.ToArray();
    }

    /// <summary>A gzip stream of <paramref name="bytes"/> zeros, written without holding them.</summary>
    internal static byte[] GzipOfZeros(long bytes)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.SmallestSize))
        {
            var zeros = new byte[1 << 20];
            for (long written = 0; written < bytes; written += zeros.Length) gzip.Write(zeros, 0, (int)Math.Min(zeros.Length, bytes - written));
        }
        return buffer.ToArray();
    }

    private static readonly Lazy<byte[]> SmallBomb = new(() => GzipOfZeros(64L << 20));

    private static string SyncBatch(string results = "", string extra = "") => $$"""{"results":[{{results}}]{{extra}}}""";

    private static string SyncResult(long seq = 1, string model = "mlp", string extra = "") =>
        $$"""{"seq":{{seq}},"model":"{{model}}","version":1,"at":"2026-12-02T00:00:00Z","origin":"edge","outputs":[{"name":"probabilities","shape":[1,1],"datatype":"FP32","data":[0.5]}]{{extra}}}""";

    public sealed record Case(string Surface, string Name, string Status, string Field, Func<HostileSilo, Task<(string Status, string Body)>> Send)
    {
        public override string ToString() => $"{Surface}: {Name}";
    }

    private static Func<HostileSilo, Task<(string, string)>> Rest(string path, Func<HttpContent?> content, string? key = HostileSilo.AdminKey,
        Action<HttpRequestMessage>? tweak = null, string method = "POST") => async silo =>
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = content() };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        tweak?.Invoke(request);
        using var response = await silo.Http.SendAsync(request);
        return (((int)response.StatusCode).ToString(), await response.Content.ReadAsStringAsync());
    };

    private static Func<HostileSilo, Task<(string, string)>> Infer(string json) => Rest("/v2/models/mlp/infer", () => HostileSilo.Json(json));
    private static Func<HostileSilo, Task<(string, string)>> Infer(byte[] json, string model = "mlp") => Rest($"/v2/models/{model}/infer", () => HostileSilo.Json(json));
    private static Func<HostileSilo, Task<(string, string)>> Echo(string json) => Rest("/v2/models/echo/infer", () => HostileSilo.Json(json));

    private static Func<HostileSilo, Task<(string, string)>> Binary(string model, string header, byte[] tensorBytes) => Rest($"/v2/models/{model}/infer", () =>
    {
        var json = Encoding.UTF8.GetBytes(header);
        var content = new ByteArrayContent([.. json, .. tensorBytes]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add(InferenceJson.HeaderLengthHeader, json.Length.ToString());
        return content;
    });

    private static Func<HostileSilo, Task<(string, string)>> Gzipped(string path, byte[] gzip, string? key = HostileSilo.AdminKey, bool bearerIsDevice = false) => async silo =>
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(gzip) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Content.Headers.ContentEncoding.Add("gzip");
        var bearer = bearerIsDevice ? silo.DeviceToken : key;
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        using var response = await silo.Http.SendAsync(request);
        return (((int)response.StatusCode).ToString(), await response.Content.ReadAsStringAsync());
    };

    private static Func<HostileSilo, Task<(string, string)>> Sync(Func<HttpContent> content, string device = HostileSilo.Device, string? bearer = null) => async silo =>
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/devices/{device}/sync") { Content = content() };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer ?? silo.DeviceToken);
        using var response = await silo.Http.SendAsync(request);
        return (((int)response.StatusCode).ToString(), await response.Content.ReadAsStringAsync());
    };

    private static Func<HostileSilo, Task<(string, string)>> Grpc(Func<ModelInferRequest> request, string key = HostileSilo.AdminKey) => async silo =>
    {
        try
        {
            await silo.Grpc.ModelInferAsync(request(), silo.Key(key));
            return ("OK", "");
        }
        catch (RpcException e)
        {
            return (e.StatusCode.ToString(), e.Status.Detail);
        }
    };

    private static ModelInferRequest GrpcMlp(Action<ModelInferRequest.Types.InferInputTensor> change, Action<ModelInferRequest>? request = null)
    {
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Shape = { 1, 64 }, Contents = new InferTensorContents() };
        input.Contents.Fp32Contents.AddRange(MlpModel.SampleInput(1));
        change(input);
        var infer = new ModelInferRequest { ModelName = "mlp", Inputs = { input } };
        request?.Invoke(infer);
        return infer;
    }

    private static ModelInferRequest GrpcEcho(string datatype, long[] shape, Action<InferTensorContents> contents, string name = "f64")
    {
        var input = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = datatype, Contents = new InferTensorContents() };
        input.Shape.AddRange(shape);
        contents(input.Contents);
        return new ModelInferRequest { ModelName = "echo", Inputs = { input } };
    }

    private static ModelInferRequest GrpcRaw(string datatype, long[] shape, byte[] raw, string model = "echo", string name = "text")
    {
        var input = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = datatype };
        input.Shape.AddRange(shape);
        return new ModelInferRequest { ModelName = model, Inputs = { input }, RawInputContents = { ByteString.CopyFrom(raw) } };
    }

    private static readonly string Zeros63 = string.Join(",", Enumerable.Repeat("0.5", 63));

    public static readonly Case[] Table =
    [
        // ---- REST infer: the request's JSON
        new("REST", "not JSON", "400", "'$'", Infer("{")),
        new("REST", "a JSON array, not an object", "400", "'$'", Infer("[1]")),
        new("REST", "nested 1,000 deep", "400", "'$'", Infer(new string('[', 1000) + new string(']', 1000))),
        new("REST", "no inputs", "400", "'inputs'", Infer("{}")),
        new("REST", "input name a number", "400", "'inputs[0].name'", Infer("""{"inputs":[{"name":5,"shape":[1,64],"datatype":"FP32","data":[1]}]}""")),
        new("REST", "id not UTF-8", "400", "'id'", Infer(WithBadUtf8($$"""{"id":"a{X}b","inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{Row}}]}]}"""))),
        new("REST", "input name not UTF-8", "400", "'inputs[0].name'", Infer(WithBadUtf8($$"""{"inputs":[{"name":"in{X}","shape":[1,64],"datatype":"FP32","data":[{{Row}}]}]}"""))),
        new("REST", "datatype not UTF-8", "400", "'inputs[0].datatype'", Infer(WithBadUtf8($$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP{X}","data":[{{Row}}]}]}"""))),
        new("REST", "output name not UTF-8", "400", "'outputs[0].name'", Infer(WithBadUtf8($$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{Row}}]}],"outputs":[{"name":"p{X}"}]}"""))),
        new("REST", "BYTES element not UTF-8", "400", "valid UTF-8", Infer(WithBadUtf8("""{"inputs":[{"name":"text","shape":[1,3],"datatype":"BYTES","data":["a","{X}","c"]}]}"""), "echo")),
        new("REST", "routing key not UTF-8", "400", "'parameters.routing_key'", Infer(WithBadUtf8(MlpJson($"[{Row}]", extra: "\"parameters\":{\"routing_key\":\"k{X}\"},")))),
        new("REST", "timeout of 9e18 microseconds", "400", "'parameters.timeout'", Infer(MlpJson($"[{Row}]", extra: "\"parameters\":{\"timeout\":9000000000000000000},"))),
        new("REST", "timeout as an exponent", "400", "'parameters.timeout'", Infer(MlpJson($"[{Row}]", extra: "\"parameters\":{\"timeout\":9e18},"))),
        new("REST", "negative timeout", "400", "'parameters.timeout'", Infer(MlpJson($"[{Row}]", extra: "\"parameters\":{\"timeout\":-1},"))),
        new("REST", "timeout a string", "400", "'parameters.timeout'", Infer(MlpJson($"[{Row}]", extra: "\"parameters\":{\"timeout\":\"soon\"},"))),
        new("REST", "priority negative", "400", "'parameters.priority'", Infer(MlpJson($"[{Row}]", extra: "\"parameters\":{\"priority\":-1},"))),
        new("REST", "routing key of 300 characters", "400", "'parameters.routing_key'", Infer(MlpJson($"[{Row}]", extra: $$"""
            "parameters":{"routing_key":"{{new string('k', 300)}}"},
            """))),
        new("REST", "sequence_id", "400", "sequence_id", Infer(MlpJson($"[{Row}]", extra: "\"parameters\":{\"sequence_id\":7},"))),
        new("REST", "1e400 in float data", "400", "out of range", Infer(MlpJson($"[1e400,{Zeros63}]"))),
        new("REST", "-1e400 in float data", "400", "out of range", Infer(MlpJson($"[-1e400,{Zeros63}]"))),
        new("REST", "shape of 6.4e11 elements, one value", "400", "'inputs[0].shape'", Infer(MlpJson("[1]", shape: "[100000,100000,64]"))),
        new("REST", "shape with 2^63-1", "400", "'inputs[0].shape'", Infer(MlpJson("[1]", shape: "[9223372036854775807,64]"))),
        new("REST", "negative dimension", "400", "'inputs[0].shape'", Infer(MlpJson($"[{Row}]", shape: "[-1,64]"))),
        new("REST", "fractional dimension", "400", "'inputs[0].shape'", Infer(MlpJson($"[{Row}]", shape: "[1.5,64]"))),
        new("REST", "shape not an array", "400", "'inputs[0].shape'", Infer(MlpJson($"[{Row}]", shape: "64"))),
        new("REST", "BYTES shape [1,2147483647], one value", "400", "values given", Echo(EchoText("""["a"]""", "[1,2147483647]"))),
        new("REST", "data longer than the shape", "400", "holds 64", Infer(MlpJson($"[{Row},1]"))),
        new("REST", "outputs not an array", "400", "'outputs'", Infer($$$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{{Row}}}]}],"outputs":{}}""")),
        new("REST", "output name not a string", "400", "'outputs[0].name'", Infer($$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{Row}}]}],"outputs":[{"name":1}]}""")),
        new("REST", "unknown model", "404", "'nope'", Rest("/v2/models/nope/infer", () => HostileSilo.Json(GoodMlp))),
        new("REST", "version not a number", "400", "'version'", Rest("/v2/models/mlp/versions/x1/infer", () => HostileSilo.Json(GoodMlp))),
        new("REST", "model name not UTF-8 in the path", "400", "model name", Rest("/v2/models/%C3%28/infer", () => HostileSilo.Json(GoodMlp))),

        // ---- REST infer: binary tensors and the body
        new("REST", "binary_data_size of 2^63-1", "400", "'inputs[0].parameters.binary_data_size'",
            Binary("mlp", """{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","parameters":{"binary_data_size":9223372036854775807}}]}""", new byte[256])),
        new("REST", "negative binary_data_size", "400", "'inputs[0].parameters.binary_data_size'",
            Binary("mlp", """{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","parameters":{"binary_data_size":-4}}]}""", new byte[256])),
        new("REST", "binary size that does not fit the shape", "400", "binary_data_size is 3 bytes",
            Binary("mlp", """{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","parameters":{"binary_data_size":3}}]}""", new byte[3])),
        new("REST", "binary BYTES shape [1,2147483647] in 8 bytes", "400", "BYTES elements",
            Binary("echo", """{"inputs":[{"name":"text","shape":[1,2147483647],"datatype":"BYTES","parameters":{"binary_data_size":8}}]}""", new byte[8])),
        new("REST", "binary BYTES element longer than the body", "400", "claims",
            Binary("echo", """{"inputs":[{"name":"text","shape":[1,1],"datatype":"BYTES","parameters":{"binary_data_size":8}}]}""", [255, 255, 255, 127, 0, 0, 0, 0])),
        new("REST", "bytes no input claims", "400", "'inputs'",
            Binary("mlp", """{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","parameters":{"binary_data_size":256}}]}""", new byte[300])),
        new("REST", "header length not a number", "400", "Inference-Header-Content-Length", Rest("/v2/models/mlp/infer", () =>
        {
            var content = HostileSilo.Json(GoodMlp);
            content.Headers.Add(InferenceJson.HeaderLengthHeader, "lots");
            return content;
        })),
        new("REST", "header length past the body", "400", "Inference-Header-Content-Length", Rest("/v2/models/mlp/infer", () =>
        {
            var content = HostileSilo.Json(GoodMlp);
            content.Headers.Add(InferenceJson.HeaderLengthHeader, "99999999");
            return content;
        })),
        new("REST", "declared body past the limit", "413", "MaxRequestBodyBytes", Rest("/v2/models/mlp/infer",
            () => HostileSilo.Json(MlpJson("[" + new string(' ', (int)HostileSilo.MaxBody) + Row + "]")), tweak: r => r.Headers.ExpectContinue = true)),
        new("REST", "chunked body past the limit", "413", "MaxRequestBodyBytes", Rest("/v2/models/mlp/infer", () =>
            new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(MlpJson("[" + new string(' ', (int)HostileSilo.MaxBody) + Row + "]")))),
            tweak: r => r.Headers.ExpectContinue = true)),
        new("REST", "gzip that inflates past the limit", "413", "MaxRequestBodyBytes", Gzipped("/v2/models/mlp/infer", SmallBomb.Value)),
        new("REST", "body that is not gzip as it claims", "400", "Content-Encoding", Gzipped("/v2/models/mlp/infer", Encoding.UTF8.GetBytes(GoodMlp))),

        // ---- REST: credentials and browsers
        new("REST", "no key", "401", "Authorization: Bearer", Rest("/v2/models/mlp/infer", () => HostileSilo.Json(GoodMlp), key: null)),
        new("REST", "unknown key", "401", "not one this mesh knows", Rest("/v2/models/mlp/infer", () => HostileSilo.Json(GoodMlp), key: "guess")),
        new("REST", "HTTP Basic with the admin key", "401", "Basic", Rest("/v2/models/mlp/infer", () => HostileSilo.Json(GoodMlp), key: null,
            tweak: r => r.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("x:" + HostileSilo.AdminKey))))),
        new("REST", "infer key deploying", "403", "needs 'admin'", Rest("/v2/repository/models/evil/versions", () => new ByteArrayContent(EchoModel.Build()), key: HostileSilo.InferKey)),
        new("REST", "deploy from another origin as text/plain", "403", "'Origin'", Rest("/v2/repository/models/evil/versions", () =>
        {
            var content = new ByteArrayContent(EchoModel.Build());
            content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
            return content;
        }, tweak: r => r.Headers.Add("Origin", "http://evil.example"))),
        new("REST", "console promote from another origin", "403", "'Origin'", Rest("/console/api/models/mlp/promote/1", () => null,
            tweak: r => r.Headers.Add("Origin", "http://evil.example"))),
        new("REST", "unload from another site without Origin", "403", "'Sec-Fetch-Site'", Rest("/v2/repository/models/mlp/unload", () => HostileSilo.Json("{}"),
            tweak: r => r.Headers.Add("Sec-Fetch-Site", "cross-site"))),
        new("REST", "Host of another name (DNS rebinding)", "400", "'Host'", Rest("/v2/models/mlp/infer", () => HostileSilo.Json(GoodMlp),
            tweak: r => r.Headers.Host = "evil.example")),

        // ---- gRPC
        new("gRPC", "FP64 shape [2^30], one value", "InvalidArgument", "values given", Grpc(() => GrpcEcho("FP64", [1, 1 << 30], c => c.Fp64Contents.Add(1)))),
        new("gRPC", "FP32 shape [536870000], one value", "InvalidArgument", "values given", Grpc(() => GrpcMlp(i => { i.Shape.Clear(); i.Shape.Add(536870000); i.Contents.Fp32Contents.Clear(); i.Contents.Fp32Contents.Add(1); }))),
        new("gRPC", "timeout of 9e18 microseconds", "InvalidArgument", "parameters.timeout", Grpc(() => GrpcMlp(_ => { }, r => r.Parameters["timeout"] = new InferParameter { Int64Param = 9_000_000_000_000_000_000 }))),
        new("gRPC", "negative dimension", "InvalidArgument", "inputs[0].shape", Grpc(() => GrpcMlp(i => { i.Shape.Clear(); i.Shape.Add(-1); i.Shape.Add(64); }))),
        new("gRPC", "shape of 2^62 elements", "InvalidArgument", "inputs[0].shape", Grpc(() => GrpcMlp(i => { i.Shape.Clear(); i.Shape.Add(1L << 31); i.Shape.Add(1L << 31); }))),
        new("gRPC", "unknown datatype", "InvalidArgument", "inputs[0].datatype", Grpc(() => GrpcMlp(i => i.Datatype = "FLOAT128"))),
        new("gRPC", "raw contents for fewer inputs", "InvalidArgument", "raw_input_contents", Grpc(() => GrpcMlp(_ => { }, r =>
        {
            r.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "extra", Datatype = "FP32", Shape = { 1 } });
            r.RawInputContents.Add(ByteString.CopyFrom(new byte[256]));
        }))),
        new("gRPC", "raw BYTES shape [1,2147483647] in 4 bytes", "InvalidArgument", "BYTES elements", Grpc(() => GrpcRaw("BYTES", [1, int.MaxValue], new byte[4]))),
        new("gRPC", "raw FP32 of the wrong size", "InvalidArgument", "binary_data_size is 10 bytes", Grpc(() => GrpcRaw("FP32", [1, 64], new byte[10], "mlp", "input"))),
        new("gRPC", "sequence_start", "InvalidArgument", "sequence_start", Grpc(() => GrpcMlp(_ => { }, r => r.Parameters["sequence_start"] = new InferParameter { BoolParam = true }))),
        new("gRPC", "unknown key", "Unauthenticated", "not one this mesh knows", Grpc(() => GrpcMlp(_ => { }), key: "guess")),

        // ---- device sync
        new("sync", "gzip bomb with a bad token", "401", "token", Gzipped($"/v2/devices/{HostileSilo.Device}/sync", SmallBomb.Value, key: "nope")),
        new("sync", "gzip bomb with the device's token", "413", "MaxRequestBodyBytes", Gzipped($"/v2/devices/{HostileSilo.Device}/sync", SmallBomb.Value, bearerIsDevice: true)),
        new("sync", "invalid gzip with the device's token", "400", "Content-Encoding", Gzipped($"/v2/devices/{HostileSilo.Device}/sync", Encoding.UTF8.GetBytes(SyncBatch()), bearerIsDevice: true)),
        new("sync", "unknown device, any token", "401", "token", Sync(() => HostileSilo.Json(SyncBatch()), device: "no-such-cam", bearer: "nope")),
        new("sync", "known device, wrong token", "401", "token", Sync(() => HostileSilo.Json(SyncBatch()), bearer: "nope")),
        new("sync", "not JSON", "400", "'body'", Sync(() => HostileSilo.Json("{"))),
        new("sync", "results not an array", "400", "'results'", Sync(() => HostileSilo.Json("""{"results":{}}"""))),
        new("sync", "model name not UTF-8", "400", "'results[0].model'", Sync(() => HostileSilo.Json(WithBadUtf8(SyncBatch(SyncResult(model: "m{X}")))))),
        new("sync", "reported property name not UTF-8", "400", "'reported'", Sync(() => HostileSilo.Json(WithBadUtf8(SyncBatch(extra: ""","reported":{"k{X}":"v"}"""))))),
        new("sync", "traceparent that is not one", "400", "'results[0].traceparent'", Sync(() => HostileSilo.Json(SyncBatch(SyncResult(extra: ""","traceparent":"00-zz" """))))),
        new("sync", "sequence number 0", "400", "start at 1", Sync(() => HostileSilo.Json(SyncBatch(SyncResult(seq: 0))))),
        new("sync", "300 reported properties", "400", "at most 256 reported properties", Sync(() => HostileSilo.Json(SyncBatch(extra: ",\"reported\":{" +
            string.Join(",", Enumerable.Range(0, 300).Select(i => $"\"p{i}\":\"v\"")) + "}")))),
        new("sync", "lost range reversed", "400", "lost range", Sync(() => HostileSilo.Json(SyncBatch(extra: ""","lost":[{"from":9,"to":3,"reason":"x"}]""")))),
        new("sync", "lost range of 4,000,000 (kept as one range)", "200", "applied_through", Sync(() => HostileSilo.Json(SyncBatch(extra: ""","lost":[{"from":1000,"to":4000999,"reason":"outbox full"}]""")))),
        new("sync", "lost range ending at long.MaxValue", "200", "applied_through", Sync(() => HostileSilo.Json(SyncBatch(extra: ""","lost":[{"from":5000000,"to":9223372036854775807,"reason":"reset"}]""")))),

        // ---- model upload
        new("upload", "bytes that are not ONNX", "400", "ONNX", Rest("/v2/repository/models/junk/versions", () => new ByteArrayContent(Encoding.UTF8.GetBytes("not a model")))),
        new("upload", "declared past MaxModelBytes", "413", "MaxModelBytes", Rest("/v2/repository/models/big/versions", () => new ByteArrayContent(new byte[HostileSilo.MaxModel + 1]),
            // As curl does for a large body: the refusal comes before the body is sent.
            tweak: r => r.Headers.ExpectContinue = true)),
        new("upload", "gzip that inflates past MaxModelBytes", "413", "MaxModelBytes", Gzipped("/v2/repository/models/big/versions", SmallBomb.Value)),
        new("upload", "invalid model name", "400", "model name", Rest("/v2/repository/models/-bad-/versions", () => new ByteArrayContent(EchoModel.Build()))),
        new("upload", "Triton load with a file parameter that is not base64", "400", "file:1/model.onnx", Rest("/v2/repository/models/tload/load", () =>
            HostileSilo.Json("""{"parameters":{"file:1/model.onnx":"***"}}"""))),
        new("upload", "Triton load with config not JSON", "400", "config", Rest("/v2/repository/models/mlp/load", () => HostileSilo.Json("""{"parameters":{"config":"{"}}"""))),
    ];

    public static IEnumerable<object[]> Cases() => Table.Select(c => new object[] { c });

    [Fact]
    public void The_table_holds_at_least_sixty_cases_across_every_surface()
    {
        Assert.True(Table.Length >= 60, $"{Table.Length} cases");
        Assert.Equal(["REST", "gRPC", "sync", "upload"], Table.Select(c => c.Surface).Distinct());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Is_answered_with_its_status_and_names_the_field(Case hostile)
    {
        var (status, body) = await hostile.Send(silo);
        Assert.True(status == hostile.Status, $"{hostile}: expected {hostile.Status}, got {status}: {body}");
        Assert.Contains(hostile.Field, body, StringComparison.Ordinal);
        await silo.AssertServesAsync();
        Assert.True(silo.Silo.ResidentBytes < HostileSilo.ResidentBound, $"{hostile}: resident {silo.Silo.ResidentBytes >> 20} MiB, bound {HostileSilo.ResidentBound >> 20} MiB");
    }

    [Fact]
    public async Task A_one_gibibyte_gzip_bomb_with_a_bad_token_is_refused_in_under_a_second_without_growth()
    {
        var bomb = GzipOfZeros(1L << 30);
        await silo.AssertServesAsync();
        var before = silo.Silo.ResidentBytes;
        var clock = Stopwatch.StartNew();
        var (status, body) = await Gzipped($"/v2/devices/{HostileSilo.Device}/sync", bomb, key: "nope")(silo);
        clock.Stop();
        Assert.Equal("401", status);
        Assert.Contains("token", body, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"refused after {clock.Elapsed.TotalMilliseconds:F0} ms");
        var after = silo.Silo.ResidentBytes;
        Assert.True(after - before < 32 << 20, $"resident {before >> 20} MiB before, {after >> 20} MiB after");
        await silo.AssertServesAsync();
    }
}
