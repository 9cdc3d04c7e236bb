using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Protocol;
using Mesh.EdgeBridge.Configuration;
using Mesh.EdgeBridge.Outbox;
using Mesh.Inference.Sessions;
using Microsoft.Extensions.Options;

namespace Mesh.EdgeBridge.LocalApi;

/// <summary>A model loaded on the device.</summary>
public sealed record LocalModel(string Name, int Version, OnnxModelSession Session);

/// <summary>A local predict's answer: the outputs and the result's sequence number in the outbox.</summary>
public sealed record LocalPrediction(PredictResponse Response, long Sequence, string Origin);

/// <summary>
/// The device's models, loaded with ONNX Runtime at start from the local model cache, and the one way to run
/// them: run, then store the result durably, then answer. Sessions are thread-safe, so callers run concurrently.
/// </summary>
public sealed class LocalModels : IDisposable
{
    public const string EdgeOrigin = "edge";
    private readonly Dictionary<string, LocalModel> _models = new(StringComparer.Ordinal);
    private readonly ResultOutbox _outbox;
    private readonly string _device;

    public LocalModels(IOptions<EdgeBridgeOptions> options, ResultOutbox outbox, ILogger<LocalModels> logger)
    {
        (_outbox, _device) = (outbox, options.Value.DeviceId);
        // One intra-op thread: a device's cores are shared with the sensors and apps calling it.
        var settings = new OnnxSessionSettings();
        foreach (var model in options.Value.Models)
        {
            _models[model.Name] = new LocalModel(model.Name, model.Version, OnnxModelSession.LoadFile(model.Name, model.Path, settings));
            logger.LogInformation("Loaded model {Model} version {Version} from {Path}", model.Name, model.Version, model.Path);
        }
    }

    public IEnumerable<LocalModel> All => _models.Values;

    public LocalModel Get(string name) => _models.TryGetValue(name, out var model) ? model : throw new ModelNotFoundException(name);

    public async Task<LocalPrediction> PredictAsync(PredictRequest request)
    {
        var model = Get(request.Model);
        if (request.Version is { } asked && asked != model.Version)
            throw new ModelVersionNotFoundException(request.Model, asked, [model.Version]);
        var at = DateTimeOffset.UtcNow;
        var outputs = model.Session.Run(model.Version, request.Inputs, request.Outputs);
        var result = new DeviceResult(0, model.Name, model.Version, at, EdgeOrigin, DeviceSyncJson.InputDigest(request.Inputs), outputs);
        var sequence = await _outbox.AppendAsync(result);
        return new LocalPrediction(new PredictResponse(model.Name, model.Version, outputs, false, "edge:" + _device), sequence, EdgeOrigin);
    }

    public void Dispose()
    {
        foreach (var model in _models.Values) model.Session.Dispose();
    }
}
