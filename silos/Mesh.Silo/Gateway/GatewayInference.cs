using Mesh.Abstractions.Errors;
using Mesh.Abstractions.Inference;
using Mesh.Abstractions.Models;
using Mesh.Grains.Inference;

namespace Mesh.Silo.Gateway;

/// <summary>
/// The one gateway service behind REST, gRPC and the devices' fallback: resolve a model and version, describe it,
/// say whether it is ready, and predict, all in this silo. Descriptions come from the silo's routing table (cached,
/// refreshed from the model's state), so metadata costs no grain call per request; predicts run on the silo's
/// batcher with the caller's deadline.
/// </summary>
public sealed class GatewayInference(ModelVersionDirectory routes, LocalInference local)
{
    /// <summary>The model and the version a request names, or its default version.</summary>
    public ValueTask<(ModelInfo Model, ModelVersionInfo Version)> DescribeAsync(string model, string? version) =>
        routes.DescribeAsync(model, InferenceEndpoints.ParseVersion(version));

    /// <summary>The version a readiness check names, or the error that says why it is not ready.</summary>
    public async Task<(ModelInfo Model, ModelVersionInfo Version)> ReadyAsync(string model, string? version)
    {
        var (info, chosen) = await DescribeAsync(model, version);
        if (info.Unloaded) throw new ModelUnloadedException(info.Name);
        if (chosen.Retired) throw new ModelVersionRetiredException(info.Name, chosen.Version);
        return (info, chosen);
    }

    /// <summary>Runs a predict here; with a timeout it is the request's deadline, and the caller stops waiting at it too.</summary>
    public Task<PredictResponse> PredictAsync(PredictRequest request, TimeSpan? timeout, CancellationToken cancellation)
    {
        if (timeout is not TimeSpan limit) return local.PredictAsync(request).WaitAsync(cancellation);
        return local.PredictAsync(request with { Deadline = DateTimeOffset.UtcNow + limit }).WaitAsync(limit, cancellation);
    }

    /// <summary>After this silo changed a model (deploy, load, unload), its next call reads the model's state.</summary>
    public void Changed(string model) => routes.Forget(model);
}
