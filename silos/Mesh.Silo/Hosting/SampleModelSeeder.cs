using Mesh.Abstractions.Events;
using Mesh.Grains.Hosting;
using Mesh.Abstractions.Grains;
using Mesh.Silo.Configuration;
using Microsoft.Extensions.Options;

namespace Mesh.Silo.Hosting;

/// <summary>
/// Deploys the bundled MLP as "mlp" when the registry is empty, so a fresh silo answers a predict at once.
/// </summary>
public sealed class SampleModelSeeder(
    IGrainFactory grains,
    IOptions<SiloOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<SampleModelSeeder> logger) : BackgroundService
{
    public const string SampleModelName = "mlp";
    public static string SampleModelPath => Path.Combine(AppContext.BaseDirectory, "SampleModels", "mlp-small.onnx");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.DeploySampleModel) return;
        // The silo must be accepting calls before the registry can be asked.
        if (!await lifetime.WaitForStartAsync(stoppingToken)) return;

        var models = await grains.GetGrain<ICatalogProjectionGrain>(EventFeed.Key).ListAsync();
        if (models.Length > 0) return;
        var version = await grains.GetGrain<IModelGrain>(SampleModelName).DeployAsync(await File.ReadAllBytesAsync(SampleModelPath, stoppingToken));
        logger.LogInformation("Registry was empty: deployed the sample model '{Model}' version {Version} ({Signature})",
            SampleModelName, version.Version, string.Join("; ", version.Signature.Inputs.Concat(version.Signature.Outputs)));
    }
}
