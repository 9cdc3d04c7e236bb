using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;
using Mesh.Client;
using Mesh.Grains.Inference;
using Mesh.Abstractions.Events;
using Mesh.Client.Grpc;
using Mesh.Grains.Configuration;
using Mesh.Grains.Telemetry;
using Microsoft.AspNetCore.Authorization;

namespace Mesh.Silo.Gateway.Grpc;

/// <summary>
/// The Open Inference Protocol's gRPC service over the same predict path as REST. Outputs always come back as
/// raw_output_contents (as Triton answers); inputs may come raw or typed.
/// </summary>
[Authorize(GatewayRoles.Infer)]
public sealed class GrpcInferenceService(
    MeshClient mesh, GatewayInference gateway, GatewayReadiness readiness, SessionPool sessions, InferenceStatistics statistics,
    Microsoft.Extensions.Options.IOptions<InferenceOptions> inference) : GRPCInferenceService.GRPCInferenceServiceBase
{
    public override async Task<ModelConfigResponse> ModelConfig(ModelConfigRequest request, ServerCallContext context) =>
        new() { Config = await InferenceEndpoints.ConfigOfAsync(gateway, request.Name, request.Version, inference.Value) };

    public override Task<ModelStatisticsResponse> ModelStatistics(ModelStatisticsRequest request, ServerCallContext context) =>
        InferenceEndpoints.StatisticsOfAsync(mesh, statistics, request.Name, request.Version);

    public override async Task<RepositoryIndexResponse> RepositoryIndex(RepositoryIndexRequest request, ServerCallContext context)
    {
        var response = new RepositoryIndexResponse();
        foreach (var (name, version, state, reason) in await RepositoryEndpoints.IndexOfAsync(mesh, request.Ready))
            response.Models.Add(new RepositoryIndexResponse.Types.ModelIndex { Name = name, Version = version, State = state, Reason = reason });
        return response;
    }

    [Authorize(GatewayRoles.Admin)]
    public override async Task<RepositoryModelLoadResponse> RepositoryModelLoad(RepositoryModelLoadRequest request, ServerCallContext context)
    {
        MeshActor.Set(GatewayHosting.CallerOf(context.GetHttpContext().User));
        var files = new List<byte[]>();
        foreach (var (name, parameter) in request.Parameters)
        {
            if (name == RepositoryEndpoints.ConfigParameter) throw RepositoryEndpoints.ConfigRefused();
            if (!name.StartsWith("file:", StringComparison.Ordinal)) continue;
            if (parameter.ParameterChoiceCase != ModelRepositoryParameter.ParameterChoiceOneofCase.BytesParam)
                throw new InvalidRequestException($"parameters.{name}", "must be the model file as bytes_param");
            files.Add(parameter.BytesParam.ToByteArray());
        }
        await RepositoryEndpoints.LoadModelAsync(mesh, sessions, gateway, request.ModelName, files);
        return new RepositoryModelLoadResponse();
    }

    [Authorize(GatewayRoles.Admin)]
    public override async Task<RepositoryModelUnloadResponse> RepositoryModelUnload(RepositoryModelUnloadRequest request, ServerCallContext context)
    {
        MeshActor.Set(GatewayHosting.CallerOf(context.GetHttpContext().User));
        await RepositoryEndpoints.UnloadAsync(mesh, sessions, gateway, request.ModelName);
        return new RepositoryModelUnloadResponse();
    }

    // Answered at once: a streaming client must learn that the stream will never carry answers, not wait for them.
    public override Task ModelStreamInfer(IAsyncStreamReader<ModelInferRequest> requestStream, IServerStreamWriter<ModelStreamInferResponse> responseStream, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented,
            "ModelStreamInfer is not implemented: Mesh serves stateless models one request at a time; call ModelInfer for each request"));

    [AllowAnonymous]
    public override Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerLiveResponse { Live = true });

    [AllowAnonymous]
    public override Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerReadyResponse { Ready = readiness.IsReady });

    public override async Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context)
    {
        try
        {
            await gateway.ReadyAsync(request.Name, request.Version);
            return new ModelReadyResponse { Ready = true };
        }
        catch (Exception e) when (e is MeshNotFoundException or ModelUnloadedException or ModelVersionRetiredException)
        {
            return new ModelReadyResponse { Ready = false };
        }
    }

    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerMetadataResponse { Name = "mesh", Version = InferenceEndpoints.ServerVersion, Extensions = { InferenceEndpoints.Extensions } });

    public override async Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context)
    {
        var (info, chosen) = await gateway.DescribeAsync(request.Name, request.Version);
        var response = new ModelMetadataResponse { Name = info.Name, Platform = InferenceEndpoints.Platform };
        response.Versions.AddRange(info.Versions.Select(v => v.Version.ToString(CultureInfo.InvariantCulture)));
        response.Inputs.AddRange(InferenceEndpoints.Tensors(chosen.Signature.Inputs).Select(ToMetadata));
        response.Outputs.AddRange(InferenceEndpoints.Tensors(chosen.Signature.Outputs).Select(ToMetadata));
        return response;
    }

    private static ModelMetadataResponse.Types.TensorMetadata ToMetadata((string Name, string Datatype, long[] Shape) t) =>
        new() { Name = t.Name, Datatype = t.Datatype, Shape = { t.Shape } };

    public override async Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
    {
        var predict = ToPredict(request, out var timeout) with { Caller = GatewayHosting.CallerOf(context.GetHttpContext().User) };
        var answer = await gateway.PredictAsync(predict, timeout, context.CancellationToken);

        var response = new ModelInferResponse
        {
            ModelName = answer.Model,
            ModelVersion = answer.Version.ToString(CultureInfo.InvariantCulture),
            Id = request.Id,
        };
        foreach (var output in answer.Outputs)
        {
            response.Outputs.Add(new ModelInferResponse.Types.InferOutputTensor
            {
                Name = output.Name,
                Datatype = InferenceJson.DataTypeName(output.ElementType),
                Shape = { output.Shape },
            });
            response.RawOutputContents.Add(UnsafeByteOperations.UnsafeWrap(InferenceJson.EncodeBinary(output)));
        }
        return response;
    }

    public static PredictRequest ToPredict(ModelInferRequest request, out TimeSpan? timeout)
    {
        timeout = null;
        foreach (var name in InferenceJson.SequenceParameters)
            if (request.Parameters.ContainsKey(name)) throw InferenceJson.SequenceRefused(name);
        if (request.Parameters.TryGetValue("timeout", out var t))
        {
            timeout = t.ParameterChoiceCase == InferParameter.ParameterChoiceOneofCase.Int64Param
                ? InferenceJson.Timeout(t.Int64Param)
                : throw new InvalidRequestException("parameters.timeout", "must be a positive int64 of microseconds");
        }
        var raw = request.RawInputContents;
        if (raw.Count > 0 && raw.Count != request.Inputs.Count)
            throw new InvalidRequestException("raw_input_contents", $"has {raw.Count} entries for {request.Inputs.Count} inputs; give one per input or none");

        var inputs = new NamedTensor[request.Inputs.Count];
        for (var i = 0; i < inputs.Length; i++)
        {
            var input = request.Inputs[i];
            var path = $"inputs[{i}]";
            if (!InferenceJson.TryParseDataType(input.Datatype, out var type))
                throw new InvalidRequestException($"{path}.datatype", $"'{input.Datatype}' is not a protocol datatype");
            var shape = input.Shape.ToArray();
            if (shape.Any(d => d < 0))
                throw new InvalidRequestException($"{path}.shape", $"{NamedTensor.ShapeText(shape)} has a negative dimension");
            inputs[i] = raw.Count > 0
                ? InferenceJson.DecodeBinary(input.Name, type, shape, raw[i].Span)
                : FromContents(input.Name, type, shape, input.Contents, path);
        }
        var outputs = request.Outputs.Count == 0 ? null : request.Outputs.Select(o => o.Name).ToArray();
        var priority = request.Parameters.TryGetValue("priority", out var p) && p.ParameterChoiceCase == InferParameter.ParameterChoiceOneofCase.Int64Param && p.Int64Param == 1
            ? PredictPriority.High
            : PredictPriority.Normal;
        string? routingKey = null;
        if (request.Parameters.TryGetValue("routing_key", out var r))
            routingKey = r.ParameterChoiceCase == InferParameter.ParameterChoiceOneofCase.StringParam && r.StringParam is { Length: > 0 and <= 256 } key
                ? key
                : throw new InvalidRequestException("parameters.routing_key", "must be a string of 1 to 256 characters");
        return new PredictRequest(request.ModelName, inputs, InferenceEndpoints.ParseVersion(request.ModelVersion), outputs, Priority: priority, RoutingKey: routingKey);
    }

    private static NamedTensor FromContents(string name, TensorElementType type, long[] shape, InferTensorContents? contents, string path)
    {
        if (contents is null)
            throw new InvalidRequestException($"{path}.contents", "is missing (and there are no raw_input_contents)");
        var count = InferenceJson.CheckedCount(shape, $"{path}.shape");
        // Counted before the tensor is allocated: a huge shape with one value costs nothing.
        long given = type switch
        {
            TensorElementType.Bool => contents.BoolContents.Count,
            TensorElementType.Int8 or TensorElementType.Int16 or TensorElementType.Int32 => contents.IntContents.Count,
            TensorElementType.Int64 => contents.Int64Contents.Count,
            TensorElementType.UInt8 or TensorElementType.UInt16 or TensorElementType.UInt32 => contents.UintContents.Count,
            TensorElementType.UInt64 => contents.Uint64Contents.Count,
            TensorElementType.Float32 => contents.Fp32Contents.Count,
            TensorElementType.Float64 => contents.Fp64Contents.Count,
            TensorElementType.String => contents.BytesContents.Count,
            _ => throw new InvalidTensorValueException(name, $"{InferenceJson.DataTypeName(type)} has no typed contents; send it in raw_input_contents"),
        };
        if (given != count)
            throw new InvalidTensorValueException(name, $"{given} values given, its shape {NamedTensor.ShapeText(shape)} holds {count}");
        var writer = new TensorValueWriter(name, type, count);
        switch (type)
        {
            case TensorElementType.Bool: Write(contents.BoolContents, writer.WriteBool); break;
            case TensorElementType.Int8 or TensorElementType.Int16 or TensorElementType.Int32: Write(contents.IntContents, v => writer.WriteInt64(v)); break;
            case TensorElementType.Int64: Write(contents.Int64Contents, writer.WriteInt64); break;
            case TensorElementType.UInt8 or TensorElementType.UInt16 or TensorElementType.UInt32: Write(contents.UintContents, v => writer.WriteInt64(v)); break;
            case TensorElementType.UInt64: Write(contents.Uint64Contents, writer.WriteUInt64); break;
            case TensorElementType.Float32: Write(contents.Fp32Contents, v => writer.WriteDouble(v)); break;
            case TensorElementType.Float64: Write(contents.Fp64Contents, writer.WriteDouble); break;
            default: Write(contents.BytesContents, v => writer.WriteString(v.ToStringUtf8())); break;
        }
        return writer.ToTensor(shape);
    }

    private static void Write<T>(IEnumerable<T> values, Action<T> write)
    {
        foreach (var value in values) write(value);
    }
}

/// <summary>Turns the mesh's errors into gRPC statuses (NOT_FOUND, INVALID_ARGUMENT, DEADLINE_EXCEEDED, ...).</summary>
public sealed class GrpcErrorInterceptor(ILogger<GrpcErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            var rpc = GatewayErrors.ToRpc(e);
            if (rpc.StatusCode == StatusCode.Internal) logger.LogError(e, "gRPC {Method} failed", context.Method);
            throw rpc;
        }
    }
}
