using System.Buffers;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Models;
using Mesh.Abstractions.Tensors;
using Mesh.Inference.Validation;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Inference.Sessions;

/// <summary>
/// One loaded ONNX Runtime session and its signature. Thread-safe: ONNX Runtime allows concurrent Run calls
/// on one session, which is how a one-thread session still uses both cores.
/// </summary>
public sealed class OnnxModelSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _tensorOutputs;
    // Read-only during a run, so one serves every concurrent run; making one per call is a native allocation.
    private readonly RunOptions _runOptions = new();

    private OnnxModelSession(string model, InferenceSession session)
    {
        Model = model;
        _session = session;
        Signature = ModelSignatureReader.FromSession(session);
        _tensorOutputs = Signature.Outputs.Where(o => o.Kind == ValueKind.Tensor).Select(o => o.Name).ToArray();
    }

    public string Model { get; }
    public ModelSignature Signature { get; }

    /// <summary>Creates a session from model bytes; throws <see cref="InvalidModelException"/> if ONNX Runtime cannot load them.</summary>
    public static OnnxModelSession Load(string model, byte[] onnx, OnnxSessionSettings settings) =>
        Create(model, settings, options => new InferenceSession(onnx, options));

    /// <summary>Creates a session from a model file, which ONNX Runtime reads itself.</summary>
    public static OnnxModelSession LoadFile(string model, string path, OnnxSessionSettings settings) =>
        Create(model, settings, options => new InferenceSession(path, options));

    /// <summary>The model metadata entry naming the optimization a file went through (mesh optimize writes it).</summary>
    public const string OptimizationMetadataKey = "mesh.optimization";

    private static OnnxModelSession Create(string model, OnnxSessionSettings settings, Func<SessionOptions, InferenceSession> create)
    {
        using var options = CreateOptions(settings);
        try
        {
            var session = create(options);
            // Int8 weights behind DequantizeLinear are kept as QDQ by default (for fusion into int8 kernels that a
            // weight-only model never reaches), so every run dequantizes them again: 5-10x slower than fp32
            // (docs/measurements.md). Such a file is loaded again with QDQ handling off, which folds the weights to fp32
            // once. The marker is only readable from a loaded session, hence the second load.
            if (session.ModelMetadata.CustomMetadataMap.TryGetValue(OptimizationMetadataKey, out var optimization)
                && optimization.StartsWith("int8-weight-only", StringComparison.Ordinal))
            {
                session.Dispose();
                options.AddSessionConfigEntry("session.disable_quant_qdq", "1");
                session = create(options);
            }
            return new OnnxModelSession(model, session);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidModelException(model, e.Message);
        }
    }

    /// <summary>
    /// Runs the graph as written (no fusions, so the profile's node names are the file's) <paramref name="runs"/>
    /// times under ONNX Runtime's profiler and returns the profile (Chrome trace JSON, one event per node run).
    /// </summary>
    public static byte[] Profile(byte[] onnx, IReadOnlyList<NamedTensor> inputs, int runs)
    {
        var prefix = Path.Combine(Path.GetTempPath(), $"mesh-profile-{Guid.NewGuid():N}");
        using var options = CreateOptions(new OnnxSessionSettings());
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
        options.EnableProfiling = true;
        options.ProfileOutputPathPrefix = prefix;
        using var session = new OnnxModelSession("profile", new InferenceSession(onnx, options));
        for (var i = 0; i < runs; i++) session.Run(0, inputs);
        var file = session._session.EndProfiling();
        try
        {
            return File.ReadAllBytes(file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static SessionOptions CreateOptions(OnnxSessionSettings settings)
    {
        var options = new SessionOptions
        {
            IntraOpNumThreads = settings.IntraOpThreads,
            InterOpNumThreads = settings.InterOpThreads,
            ExecutionMode = settings.InterOpThreads > 1 ? ExecutionMode.ORT_PARALLEL : ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        var spin = settings.AllowSpinning ? "1" : "0";
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", spin);
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", spin);
        return options;
    }

    /// <summary>
    /// Validates <paramref name="inputs"/> against the signature, runs the model and returns the requested
    /// tensor outputs (all of them when <paramref name="outputNames"/> is null or empty), in signature order.
    /// </summary>
    public NamedTensor[] Run(int version, IReadOnlyList<NamedTensor> inputs, IReadOnlyList<string>? outputNames = null)
    {
        InputValidator.Validate(Model, Signature, inputs);
        return RunChecked(version, inputs, outputNames);
    }

    /// <summary>
    /// Runs inputs that the caller has already validated against <see cref="Signature"/> (the batcher checks each
    /// request before it queues, so checking again here would do the work twice on the hot path).
    /// </summary>
    public NamedTensor[] RunChecked(int version, IReadOnlyList<NamedTensor> inputs, IReadOnlyList<string>? outputNames = null)
    {
        var outputs = ResolveOutputs(outputNames);

        var names = new string[inputs.Count];
        var values = new OrtValue[inputs.Count];
        var pins = new MemoryHandle[inputs.Count];
        try
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                names[i] = inputs[i].Name;
                values[i] = ToOrtValue(inputs[i], ref pins[i]);
            }

            using var results = _session.Run(_runOptions, names, values, outputs);
            var answer = new NamedTensor[outputs.Length];
            var index = 0;
            foreach (var result in results)
            {
                answer[index] = FromOrtValue(outputs[index], result);
                index++;
            }
            return answer;
        }
        catch (OnnxRuntimeException e)
        {
            throw new InferenceFailedException(Model, version, e.Message);
        }
        finally
        {
            foreach (var value in values) value?.Dispose();
            foreach (var pin in pins) pin.Dispose();
        }
    }

    private string[] ResolveOutputs(IReadOnlyList<string>? requested)
    {
        if (requested is null || requested.Count == 0)
            return _tensorOutputs;
        foreach (var name in requested)
        {
            if (Array.IndexOf(_tensorOutputs, name) < 0)
                throw new UnknownOutputException(Model, name, _tensorOutputs);
        }
        return requested.Distinct(StringComparer.Ordinal).ToArray();
    }

    private static OrtValue ToOrtValue(NamedTensor tensor, ref MemoryHandle pin)
    {
        if (tensor.ElementType == TensorElementType.String)
        {
            var value = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, tensor.Shape);
            var strings = tensor.Strings!;
            for (var i = 0; i < strings.Length; i++)
                value.StringTensorSetElementAt(strings[i].AsSpan(), i);
            return value;
        }

        var type = ModelSignatureReader.ToOrt(tensor.ElementType);
        if (tensor.Data.Length == 0)
            return OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, type, tensor.Shape);

        // The request's own buffer is handed to ONNX Runtime pinned, not copied: it stays alive and unmoved
        // until the run is over (the caller disposes the pin after Run).
        pin = tensor.Data.AsMemory().Pin();
        unsafe
        {
            return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, type, tensor.Shape, (IntPtr)pin.Pointer, tensor.Data.Length);
        }
    }

    private static NamedTensor FromOrtValue(string name, OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        var type = ModelSignatureReader.FromOrt(info.ElementDataType);
        var shape = info.Shape;
        if (type == TensorElementType.String)
            return NamedTensor.FromStrings(name, shape, value.GetStringTensorAsArray());
        return new NamedTensor(name, type, shape, value.GetTensorMutableRawData().ToArray());
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}
