using Mesh.Abstractions.Grains;
using Mesh.Abstractions.Models;
using Mesh.Grains.Storage;

namespace Mesh.Grains.Models;

public sealed class UsageLedgerGrain(
    [PersistentState("usage", SqliteGrainStorage.ProviderName)] IPersistentState<UsageLedgerState> state) : Grain, IUsageLedgerGrain
{
    public async Task AddAsync(UsageRecord[] usage)
    {
        foreach (var record in usage)
        {
            state.State.Totals[record.Caller] = state.State.Totals.TryGetValue(record.Caller, out var total)
                ? new UsageRecord(record.Caller, total.Requests + record.Requests, total.Rows + record.Rows, total.ComputeMs + record.ComputeMs, total.QueueMs + record.QueueMs)
                : record;
        }
        await state.WriteStateAsync();
    }

    public Task<UsageRecord[]> ListAsync() => Task.FromResult(state.State.Totals.Values.OrderBy(r => r.Caller, StringComparer.Ordinal).ToArray());
}

[GenerateSerializer]
public sealed class UsageLedgerState
{
    [Id(0)] public Dictionary<string, UsageRecord> Totals { get; set; } = new(StringComparer.Ordinal);
}
