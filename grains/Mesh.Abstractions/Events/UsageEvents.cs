using Mesh.Abstractions.Models;

namespace Mesh.Abstractions.Events;

/// <summary>What callers used in one silo since its last flush (about a second): the usage projection sums these.</summary>
public sealed record UsageRecorded(UsageRecord[] Usage);
