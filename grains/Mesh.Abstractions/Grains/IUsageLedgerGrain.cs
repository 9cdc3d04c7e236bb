using Mesh.Abstractions.Models;

namespace Mesh.Abstractions.Grains;

/// <summary>
/// The mesh's usage totals per caller (one activation, key 0). Silos add what they counted about once a second,
/// never per predict, so the ledger is off the hot path.
/// </summary>
public interface IUsageLedgerGrain : IGrainWithIntegerKey
{
    Task AddAsync(UsageRecord[] usage);
    Task<UsageRecord[]> ListAsync();
}
