using System.Globalization;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;
using Mesh.Client.Grpc;
using Mesh.Grains.Configuration;
using Mesh.Grains.Telemetry;

namespace Mesh.Silo.Gateway;

/// <summary>
/// Triton's model configuration and statistics extensions, built once as the protocol's protobuf messages and
/// served from them on both transports: gRPC sends the message, REST its JSON with proto field names, as Triton
/// does (int64 fields as JSON numbers, which Triton's own JSON printing restores too).
/// </summary>
public static class TritonExtensions
{
    /// <summary>ONNX Runtime's platform and backend names in Triton's model configuration.</summary>
    public const string ConfigPlatform = "onnxruntime_onnx";
    public const string ConfigBackend = "onnxruntime";

    /// <summary>
    /// A version's configuration. A model whose inputs and outputs all have a symbolic first dimension batches:
    /// <c>max_batch_size</c> is its policy's and <c>dims</c> leave that dimension out, as Triton's do; otherwise
    /// <c>max_batch_size</c> is 0 and <c>dims</c> are the whole shape. Every version that is not retired is served
    /// (<c>version_policy.specific</c>); each silo runs <paramref name="runners"/> executions of it at once on CPU.
    /// </summary>
    public static ModelConfig Config(ModelInfo model, ModelVersionInfo version, int runners)
    {
        var policy = model.ServingPolicy;
        var batches = version.Signature.IsBatchable && policy.MaxBatchSize > 1;
        var config = new ModelConfig
        {
            Name = model.Name,
            Platform = ConfigPlatform,
            Backend = ConfigBackend,
            MaxBatchSize = batches ? policy.MaxBatchSize : 0,
            VersionPolicy = new ModelVersionPolicy { Specific = new ModelVersionPolicy.Types.Specific() },
            InstanceGroup = { new ModelInstanceGroup { Name = $"{model.Name}_0", Count = runners, Kind = ModelInstanceGroup.Types.Kind.Cpu } },
        };
        config.VersionPolicy.Specific.Versions.AddRange(model.Versions.Where(v => !v.Retired).Select(v => (long)v.Version));
        foreach (var input in version.Signature.Inputs.Where(i => i.Kind == ValueKind.Tensor))
            config.Input.Add(new ModelInput { Name = input.Name, DataType = DataTypeOf(input.ElementType), Dims = { Dims(input.Shape, batches) } });
        foreach (var output in version.Signature.Outputs.Where(o => o.Kind == ValueKind.Tensor))
            config.Output.Add(new ModelOutput { Name = output.Name, DataType = DataTypeOf(output.ElementType), Dims = { Dims(output.Shape, batches) } });
        if (batches)
        {
            config.DynamicBatching = new ModelDynamicBatching
            {
                MaxQueueDelayMicroseconds = (ulong)Math.Max(0, policy.MaxQueueDelayMicroseconds),
                // Two levels: parameters.priority 1 is served first, everything else after.
                PriorityLevels = 2,
                DefaultPriorityLevel = 2,
                DefaultQueuePolicy = new ModelQueuePolicy { MaxQueueSize = (uint)Math.Max(0, policy.MaxQueueSize), AllowTimeoutOverride = true },
            };
            config.DynamicBatching.PreferredBatchSize.AddRange(policy.PreferredBatchSizes ?? []);
        }
        return config;
    }

    private static IEnumerable<long> Dims(long[] shape, bool batches) => batches ? shape.Skip(1) : shape;

    public static DataType DataTypeOf(TensorElementType type) => type switch
    {
        TensorElementType.Bool => DataType.TypeBool,
        TensorElementType.UInt8 => DataType.TypeUint8,
        TensorElementType.UInt16 => DataType.TypeUint16,
        TensorElementType.UInt32 => DataType.TypeUint32,
        TensorElementType.UInt64 => DataType.TypeUint64,
        TensorElementType.Int8 => DataType.TypeInt8,
        TensorElementType.Int16 => DataType.TypeInt16,
        TensorElementType.Int32 => DataType.TypeInt32,
        TensorElementType.Int64 => DataType.TypeInt64,
        TensorElementType.Float16 => DataType.TypeFp16,
        TensorElementType.Float32 => DataType.TypeFp32,
        TensorElementType.Float64 => DataType.TypeFp64,
        TensorElementType.String => DataType.TypeString,
        TensorElementType.BFloat16 => DataType.TypeBf16,
        _ => DataType.TypeInvalid,
    };

    /// <summary>This silo's statistics in Triton's message: the same counts the meter records.</summary>
    public static ModelStatisticsResponse Statistics(IEnumerable<VersionStatistics> versions)
    {
        var response = new ModelStatisticsResponse();
        foreach (var v in versions)
        {
            var stats = new ModelStatistics
            {
                Name = v.Model,
                Version = v.Version.ToString(CultureInfo.InvariantCulture),
                LastInference = (ulong)Math.Max(0, v.LastInferenceMs),
                InferenceCount = (ulong)v.InferenceCount,
                ExecutionCount = (ulong)v.ExecutionCount,
                InferenceStats = new InferStatistics
                {
                    Success = Duration(v.Success),
                    Fail = Duration(v.Fail),
                    Queue = Duration(v.Queue),
                    // Inputs arrive as the tensors ONNX Runtime runs on and outputs leave as its tensors: no
                    // separate preparation step to time, so input and output compute are reported as zero.
                    ComputeInput = new StatisticDuration(),
                    ComputeInfer = Duration(v.ComputeInfer),
                    ComputeOutput = new StatisticDuration(),
                    CacheHit = new StatisticDuration(),
                },
            };
            foreach (var (size, compute) in v.Batches)
                stats.BatchStats.Add(new InferBatchStatistics
                {
                    BatchSize = (ulong)size,
                    ComputeInput = new StatisticDuration { Count = (ulong)compute.Count },
                    ComputeInfer = Duration(compute),
                    ComputeOutput = new StatisticDuration { Count = (ulong)compute.Count },
                });
            response.ModelStats.Add(stats);
        }
        return response;
    }

    private static StatisticDuration Duration(DurationStatistic d) => new() { Count = (ulong)d.Count, Ns = (ulong)d.Nanoseconds };

    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true).WithFormatDefaultValues(true));

    // Fields of these messages that proto3 JSON writes as strings (64-bit integers), turned back into numbers.
    private static readonly HashSet<string> Int64Fields = new(StringComparer.Ordinal)
    {
        "dims", "versions", "max_queue_delay_microseconds", "priority_levels", "default_priority_level", "default_timeout_microseconds",
        "last_inference", "inference_count", "execution_count", "count", "ns", "batch_size",
    };

    /// <summary>A message as Triton's REST API writes it: proto field names, every field, 64-bit integers as numbers.</summary>
    public static string Json(IMessage message)
    {
        var node = JsonNode.Parse(Formatter.Format(message))!;
        FixInt64(node);
        return node.ToJsonString();
    }

    private static void FixInt64(JsonNode node)
    {
        if (node is JsonArray array)
        {
            foreach (var item in array) if (item is not null) FixInt64(item);
            return;
        }
        if (node is not JsonObject obj) return;
        foreach (var (key, value) in obj.ToList())
        {
            if (value is null) continue;
            if (Int64Fields.Contains(key)) obj[key] = AsNumber(value);
            else FixInt64(value);
        }
    }

    private static JsonNode AsNumber(JsonNode value) => value switch
    {
        JsonArray array => new JsonArray(array.Select(i => i is null ? null : AsNumber(i)).ToArray()),
        JsonValue v when v.TryGetValue<string>(out var text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) => JsonValue.Create(n),
        JsonValue v when v.TryGetValue<string>(out var text) && ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var u) => JsonValue.Create(u),
        _ => value.DeepClone(),
    };
}
