using Mesh.Abstractions.Events;
using Mesh.Abstractions.Models;

namespace Mesh.Grains.Models;

/// <summary>
/// A model's state as the fold of its events. <see cref="Apply"/> never refuses: the model grain checks a change
/// against the state before it raises the event, so replaying stored events always succeeds.
/// Snapshots store this class as JSON.
/// </summary>
public sealed class ModelState
{
    public List<ModelVersionInfo> Versions { get; set; } = [];
    public int DefaultVersion { get; set; }
    public ServingPolicy? Policy { get; set; }
    public TrafficWeight[]? Traffic { get; set; }
    public int? ShadowVersion { get; set; }

    /// <summary>Versions that had all traffic, oldest first: what rollback goes back along.</summary>
    public List<int> FullTrafficHistory { get; set; } = [];

    public void Apply(ModelEvent e, string model)
    {
        switch (e)
        {
            case ModelVersionRegistered r:
                Versions.Add(new ModelVersionInfo(model, r.Version, r.ArtifactSha256, r.ArtifactBytes, r.Signature, r.RegisteredAt, r.Lineage));
                if (r.MakeDefault || Versions.Count == 1) TakeAllTraffic(r.Version);
                break;
            case ModelVersionPromoted p:
                TakeAllTraffic(p.Version);
                break;
            case ModelTrafficSplitSet s:
                if (s.Weights.Length == 1) TakeAllTraffic(s.Weights[0].Version);
                else Traffic = s.Weights;
                break;
            case ModelShadowSet s:
                ShadowVersion = s.Version;
                break;
            case ModelRolledBack r:
                // The version rolled back from leaves the history, so a second rollback goes further back.
                if (Traffic is null && FullTrafficHistory.Count > 0 && FullTrafficHistory[^1] == r.FromVersion)
                    FullTrafficHistory.RemoveAt(FullTrafficHistory.Count - 1);
                TakeAllTraffic(r.ToVersion);
                break;
            case ModelVersionRetired r:
                var index = Versions.FindIndex(v => v.Version == r.Version);
                if (index >= 0) Versions[index] = Versions[index] with { Retired = true };
                if (ShadowVersion == r.Version) ShadowVersion = null;
                FullTrafficHistory.RemoveAll(v => v == r.Version);
                break;
            case ModelPolicyChanged p:
                Policy = p.Policy;
                break;
        }
    }

    private void TakeAllTraffic(int version)
    {
        DefaultVersion = version;
        Traffic = null;
        if (ShadowVersion == version) ShadowVersion = null;
        if (FullTrafficHistory.Count == 0 || FullTrafficHistory[^1] != version) FullTrafficHistory.Add(version);
    }

    public ModelInfo ToInfo(string model) => new(model, DefaultVersion, Versions.ToArray(), Policy, Traffic, ShadowVersion);
}
