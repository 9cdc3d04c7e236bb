namespace Mesh.Abstractions.Models;

/// <summary>What one caller (API key or client id) used: served requests, rows, and milliseconds of compute and of queueing.</summary>
[GenerateSerializer, Immutable]
public sealed record UsageRecord(string Caller, long Requests, long Rows, double ComputeMs, double QueueMs);
