using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Inference;
using Mesh.Protocol;
using Mesh.Edge.Configuration;
using Mesh.Inference.Sessions;
using Microsoft.Extensions.Options;

namespace Mesh.Edge.Predicting;

/// <summary>
/// A model loaded on the device. Requests lease its session while they run (<see cref="SharedSession"/>); a version
/// swapped out is disposed only when its last request has finished, so a swap never fails a request in flight.
/// </summary>
public sealed class LocalModel(string name, int version, string sha256, string path, OnnxModelSession session)
{
    private readonly SharedSession _shared = new(session);

    public string Name { get; } = name;
    public int Version { get; } = version;
    public string Sha256 { get; } = sha256;
    public string Path { get; } = path;
    public OnnxModelSession Session => _shared.Session;

    public bool TryAcquire() => _shared.TryAcquire();

    public void Release() => _shared.Release();

    /// <summary>The model table lets go of this version (swapped out, or the bridge stopping).</summary>
    public void Retire() => _shared.Retire();
}

/// <summary>
/// The device's models, run with ONNX Runtime. The files
/// configured in Mesh:Edge:Models are the starting point; versions installed over the air since replace them and
/// are remembered (models/current.json in the data folder) across restarts.
/// </summary>
public sealed class LocalModels : IDisposable
{
    private readonly ConcurrentDictionary<string, LocalModel> _models = new(StringComparer.Ordinal);
    private readonly string _currentFile;
    private readonly ILogger<LocalModels> _logger;
    private readonly Lock _swapping = new();

    // One intra-op thread: a device's cores are shared with the sensors and apps calling it.
    public static readonly OnnxSessionSettings Settings = new();

    public LocalModels(IOptions<EdgeBridgeOptions> options, ILogger<LocalModels> logger)
    {
        _logger = logger;
        CacheDirectory = System.IO.Path.Combine(options.Value.FullDataDirectory, "models");
        Directory.CreateDirectory(CacheDirectory);
        _currentFile = System.IO.Path.Combine(CacheDirectory, "current.json");
        var installed = File.Exists(_currentFile)
            ? JsonSerializer.Deserialize(File.ReadAllText(_currentFile), InstalledModelJson.Default.DictionaryStringInstalledModel) ?? []
            : [];
        foreach (var configured in options.Value.Models)
        {
            var (version, path) = installed.TryGetValue(configured.Name, out var over) && File.Exists(over.Path)
                ? (over.Version, over.Path)
                : (configured.Version, configured.Path);
            _models[configured.Name] = Load(configured.Name, version, path);
            logger.LogInformation("Loaded model {Model} version {Version} from {Path}", configured.Name, version, path);
        }
        foreach (var (name, over) in installed.Where(i => !_models.ContainsKey(i.Key) && File.Exists(i.Value.Path)))
            _models[name] = Load(name, over.Version, over.Path);
    }

    /// <summary>Where downloaded versions are kept, by content hash (so a rollback needs no download).</summary>
    public string CacheDirectory { get; }

    public IEnumerable<LocalModel> All => _models.Values;

    public LocalModel? Find(string name) => _models.GetValueOrDefault(name);

    public static LocalModel Load(string name, int version, string path)
    {
        string sha;
        using (var file = File.OpenRead(path)) sha = Convert.ToHexStringLower(SHA256.HashData(file));
        return new LocalModel(name, version, sha, path, OnnxModelSession.LoadFile(name, path, Settings));
    }

    /// <summary>Makes <paramref name="next"/> the version that answers; requests running on the old one finish on it.</summary>
    public void Swap(LocalModel next)
    {
        lock (_swapping)
        {
            var previous = _models.GetValueOrDefault(next.Name);
            _models[next.Name] = next;
            var installed = _models.Values.ToDictionary(m => m.Name, m => new InstalledModel(m.Version, m.Path));
            var temporary = _currentFile + ".tmp";
            File.WriteAllText(temporary, JsonSerializer.Serialize(installed, InstalledModelJson.Default.DictionaryStringInstalledModel));
            File.Move(temporary, _currentFile, overwrite: true);
            previous?.Retire();
        }
        _logger.LogInformation("Model {Model} now runs version {Version} (sha256 {Sha256})", next.Name, next.Version, next.Sha256);
    }

    /// <summary>Runs the request on the local version, or returns null when the model is not on the device.</summary>
    public (LocalModel Model, Mesh.Abstractions.Tensors.NamedTensor[] Outputs)? Run(PredictRequest request)
    {
        if (!_models.ContainsKey(request.Model)) return null;
        var model = Acquire(request.Model);
        try
        {
            if (request.Version is { } asked && asked != model.Version)
                throw new ModelVersionNotFoundException(request.Model, asked, [model.Version]);
            return (model, model.Session.Run(model.Version, request.Inputs, request.Outputs));
        }
        finally
        {
            model.Release();
        }
    }

    private LocalModel Acquire(string name)
    {
        while (true)
        {
            var model = _models.GetValueOrDefault(name) ?? throw new ModelNotFoundException(name);
            if (model.TryAcquire()) return model;   // else it was swapped out and disposed just now: read again
        }
    }

    public void Dispose()
    {
        foreach (var model in _models.Values) model.Retire();
    }
}
