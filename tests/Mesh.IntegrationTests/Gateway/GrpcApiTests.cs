using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Mesh.Protocol;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Mesh.Client.Grpc;

namespace Mesh.IntegrationTests.Gateway;

[Collection(OpenGatewayCollection.Name), Trait("Category", "Integration")]
public class GrpcApiTests(OpenGateway gateway)
{
    private GRPCInferenceService.GRPCInferenceServiceClient Grpc => gateway.Grpc;

    [Fact]
    public async Task Server_live_ready_and_metadata()
    {
        Assert.True((await Grpc.ServerLiveAsync(new ServerLiveRequest())).Live);
        Assert.True((await Grpc.ServerReadyAsync(new ServerReadyRequest())).Ready);
        var metadata = await Grpc.ServerMetadataAsync(new ServerMetadataRequest());
        Assert.Equal("mesh", metadata.Name);
        Assert.Contains("binary_tensor_data", metadata.Extensions);
    }

    [Fact]
    public async Task Model_metadata_and_ready()
    {
        var metadata = await Grpc.ModelMetadataAsync(new ModelMetadataRequest { Name = "mlp" });
        Assert.Equal(("mlp", "onnx_onnxv1"), (metadata.Name, metadata.Platform));
        Assert.Equal(["1"], metadata.Versions);
        var input = Assert.Single(metadata.Inputs);
        Assert.Equal(("input", "FP32"), (input.Name, input.Datatype));
        Assert.Equal([-1, 64], input.Shape);

        Assert.True((await Grpc.ModelReadyAsync(new ModelReadyRequest { Name = "mlp", Version = "1" })).Ready);
        Assert.False((await Grpc.ModelReadyAsync(new ModelReadyRequest { Name = "absent" })).Ready);
    }

    [Fact]
    public async Task Model_infer_with_raw_contents_matches_rest()
    {
        var rows = MlpModel.SampleInput(3, seed: 11);
        var request = new ModelInferRequest { ModelName = "mlp", Id = "g-1" };
        request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Shape = { 3, 64 } });
        request.RawInputContents.Add(ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows.AsSpan())));

        var response = await Grpc.ModelInferAsync(request);

        Assert.Equal(("mlp", "1", "g-1"), (response.ModelName, response.ModelVersion, response.Id));
        var output = Assert.Single(response.Outputs);
        Assert.Equal(("probabilities", "FP32"), (output.Name, output.Datatype));
        Assert.Equal([3, 10], output.Shape);
        var (_, rest) = await gateway.Http.PostJsonAsync("/v2/models/mlp/infer",
            $$"""{"inputs":[{"name":"input","shape":[3,64],"datatype":"FP32","data":[{{GatewayHttp.FloatList(rows)}}]}]}""");
        var restValues = GatewayHttp.Floats(rest.GetProperty("outputs")[0].GetProperty("data"));
        Assert.Equal(System.Runtime.InteropServices.MemoryMarshal.AsBytes(restValues.AsSpan()).ToArray(), response.RawOutputContents[0].ToByteArray());
    }

    [Fact]
    public async Task Model_infer_with_typed_contents_including_strings()
    {
        var fraud = TestModels.UniqueName("fraud-grpc");
        using (var upload = new ByteArrayContent(TestModels.Fraud))
            Assert.Equal(HttpStatusCode.Created, (await gateway.Http.PostAsync($"/v2/repository/models/{fraud}/versions", upload)).StatusCode);

        var request = new ModelInferRequest { ModelName = fraud, Outputs = { new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "PredictedLabel.output" } } };
        void Float(string name, params float[] values) => request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor
            { Name = name, Datatype = "FP32", Shape = { values.Length, 1 }, Contents = new InferTensorContents { Fp32Contents = { values } } });
        Float("Amount", 950, 42.5f);
        Float("Hour", 3, 13);
        Float("DistanceKm", 1500, 3.2f);
        Float("RecentCount", 6, 0);
        Float("Foreign", 1, 0);
        request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor
        {
            Name = "Category", Datatype = "BYTES", Shape = { 2, 1 },
            Contents = new InferTensorContents { BytesContents = { ByteString.CopyFromUtf8("electronics"), ByteString.CopyFromUtf8("grocery") } },
        });

        var response = await Grpc.ModelInferAsync(request);

        var label = Assert.Single(response.Outputs);
        Assert.Equal(("PredictedLabel.output", "BOOL"), (label.Name, label.Datatype));
        Assert.Equal(new byte[] { 1, 0 }, response.RawOutputContents[0].ToByteArray());
    }

    [Theory]
    [InlineData("absent", "FP32", 64, StatusCode.NotFound, "model 'absent' is not deployed")]
    [InlineData("mlp", "FP64", 64, StatusCode.InvalidArgument, "expected element type float32, got float64")]
    [InlineData("mlp", "FP32", 63, StatusCode.InvalidArgument, "dimension 1 must be 64, got 63")]
    [InlineData("mlp", "FLOAT", 64, StatusCode.InvalidArgument, "'FLOAT' is not a protocol datatype")]
    public async Task Errors_are_grpc_statuses_with_the_message(string model, string datatype, int width, StatusCode code, string message)
    {
        var request = new ModelInferRequest { ModelName = model };
        request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = datatype, Shape = { 1, width } });
        request.RawInputContents.Add(ByteString.CopyFrom(new byte[width * (datatype == "FP64" ? 8 : 4)]));

        var e = await Assert.ThrowsAsync<RpcException>(() => Grpc.ModelInferAsync(request).ResponseAsync);

        Assert.Equal(code, e.StatusCode);
        Assert.Contains(message, e.Status.Detail);
        Assert.True((await Grpc.ServerReadyAsync(new ServerReadyRequest())).Ready);
    }
}
