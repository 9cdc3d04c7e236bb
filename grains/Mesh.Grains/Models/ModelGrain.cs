using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Configuration;
using Mesh.Grains.Storage;
using Mesh.Inference.Sessions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Grains.Models;

public sealed class ModelGrain(
    [PersistentState("model", SqliteGrainStorage.ProviderName)] IPersistentState<ModelState> state,
    IArtifactStore artifacts,
    IOptions<InferenceOptions> inference,
    TimeProvider clock,
    ILogger<ModelGrain> logger) : Grain, IModelGrain
{
    private string Name => this.GetPrimaryKeyString();

    public async Task<ModelVersionInfo> DeployAsync(byte[] onnx, bool makeDefault = true)
    {
        ModelName.Validate(Name);
        if (onnx is null || onnx.Length == 0)
            throw new InvalidModelException(Name, "the file is empty");

        // Load before storing anything: a file ONNX Runtime rejects leaves no artifact and no version behind.
        var signature = ModelSignatureReader.Read(Name, onnx, inference.Value.Session);
        var sha256 = ArtifactHash.Of(onnx);

        var existing = state.State.Versions.Find(v => v.ArtifactSha256 == sha256);
        if (existing is not null)
        {
            if (makeDefault && state.State.DefaultVersion != existing.Version)
            {
                state.State.DefaultVersion = existing.Version;
                await state.WriteStateAsync();
            }
            return existing;
        }

        await artifacts.PutAsync(sha256, onnx);
        var isFirst = state.State.Versions.Count == 0;
        var version = new ModelVersionInfo(
            Name,
            isFirst ? 1 : state.State.Versions.Max(v => v.Version) + 1,
            sha256,
            onnx.LongLength,
            signature,
            clock.GetUtcNow());
        state.State.Versions.Add(version);
        if (makeDefault || isFirst)
            state.State.DefaultVersion = version.Version;
        await state.WriteStateAsync();
        if (isFirst)
            await GrainFactory.GetGrain<IModelCatalogGrain>(0).AddAsync(Name);

        logger.LogInformation("Model {Model} version {Version} registered ({Bytes} bytes, sha256 {Sha256})", Name, version.Version, onnx.Length, sha256);
        return version;
    }

    public Task<ModelInfo> GetAsync() => Task.FromResult(Snapshot());

    public Task<ModelVersionInfo> GetVersionAsync(int version) => Task.FromResult(Find(version));

    public async Task<ModelInfo> SetDefaultVersionAsync(int version)
    {
        Find(version);
        if (state.State.DefaultVersion != version)
        {
            state.State.DefaultVersion = version;
            await state.WriteStateAsync();
        }
        return Snapshot();
    }

    public async Task<ModelInfo> SetPolicyAsync(ServingPolicy policy)
    {
        Snapshot();
        policy.Validate(Name);
        state.State.Policy = policy;
        await state.WriteStateAsync();
        return Snapshot();
    }

    private ModelInfo Snapshot()
    {
        if (state.State.Versions.Count == 0)
            throw new ModelNotFoundException(Name);
        return new ModelInfo(Name, state.State.DefaultVersion, state.State.Versions.ToArray(), state.State.Policy);
    }

    private ModelVersionInfo Find(int version)
    {
        if (state.State.Versions.Count == 0)
            throw new ModelNotFoundException(Name);
        return state.State.Versions.Find(v => v.Version == version)
            ?? throw new ModelVersionNotFoundException(Name, version, state.State.Versions.Select(v => v.Version).ToArray());
    }
}

public sealed class ModelCatalogGrain(
    [PersistentState("catalog", SqliteGrainStorage.ProviderName)] IPersistentState<ModelCatalogState> state) : Grain, IModelCatalogGrain
{
    public Task<string[]> ListAsync() => Task.FromResult(state.State.Models.ToArray());

    public async Task AddAsync(string model)
    {
        if (state.State.Models.Add(model))
            await state.WriteStateAsync();
    }
}
