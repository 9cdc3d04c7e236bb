using Microsoft.Extensions.Hosting;

namespace Mesh.Grains.Hosting;

public static class HostLifetimeExtensions
{
    /// <summary>
    /// Waits until the host, silo included, has started and accepts grain calls. False if the host began to stop
    /// first: the caller then has nothing to do.
    /// </summary>
    public static async Task<bool> WaitForStartAsync(this IHostApplicationLifetime lifetime, CancellationToken stopping)
    {
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stopping.Register(() => started.TrySetCanceled()))
        {
            try
            {
                await started.Task;
                return true;
            }
            catch (TaskCanceledException)
            {
                return false;
            }
        }
    }

    /// <summary>The timer's next tick; false once the host stops (instead of an exception).</summary>
    public static async Task<bool> TickAsync(this PeriodicTimer timer, CancellationToken stopping)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stopping);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
