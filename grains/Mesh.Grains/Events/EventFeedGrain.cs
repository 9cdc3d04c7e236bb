using Mesh.Abstractions.Grains;
using Orleans.Concurrency;

namespace Mesh.Grains.Events;

/// <summary>
/// Serves the feed to outside consumers from the store, in position order. Waiting consumers are answered by
/// looking at the store every <see cref="PollInterval"/>; the store's last position is one indexed read.
/// </summary>
[StatelessWorker, Reentrant]
public sealed class EventFeedGrain(IEventStore store) : Grain, IEventFeedGrain
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private const int MaxPage = 1000;

    public async Task<FeedPage> ReadAsync(long fromPosition, int maxCount, string? streamPrefix, TimeSpan wait)
    {
        var from = Math.Max(1, fromPosition);
        var count = Math.Clamp(maxCount, 1, MaxPage);
        var until = DateTime.UtcNow + (wait > TimeSpan.FromSeconds(20) ? TimeSpan.FromSeconds(20) : wait);
        while (true)
        {
            var events = await store.ReadFeedAsync(from, count);
            if (events.Count > 0)
            {
                var next = events[^1].Position + 1;
                var matching = streamPrefix is null ? events.ToArray() : events.Where(e => e.Stream.StartsWith(streamPrefix, StringComparison.Ordinal)).ToArray();
                if (matching.Length > 0 || DateTime.UtcNow >= until) return new FeedPage(matching, next);
                from = next;
                continue;
            }
            if (DateTime.UtcNow >= until) return new FeedPage([], from);
            await Task.Delay(PollInterval);
        }
    }

    public Task<long> GetHeadAsync() => store.GetFeedHeadAsync();
}
