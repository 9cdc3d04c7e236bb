namespace Mesh.Silo.Gateway;

/// <summary>Ready from the moment the host (silo included) has started until it begins to stop.</summary>
public sealed class GatewayReadiness
{
    private volatile bool _ready;

    public GatewayReadiness(IHostApplicationLifetime lifetime)
    {
        lifetime.ApplicationStarted.Register(() => _ready = true);
        lifetime.ApplicationStopping.Register(() => _ready = false);
    }

    public bool IsReady => _ready;
}
