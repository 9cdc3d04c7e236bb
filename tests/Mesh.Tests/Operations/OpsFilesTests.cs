using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Mesh.Tests.Operations;

/// <summary>
/// The alert rules and dashboard in docs/ops parse, have what Prometheus and Grafana need, and query only series
/// docs/operations.md documents (so a renamed instrument breaks this test, not a pager at night).
/// </summary>
public partial class OpsFilesTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.sln"))) return dir.FullName;
        throw new InvalidOperationException("Mesh.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The Prometheus series the metrics table of docs/operations.md names (its second column).</summary>
    public static HashSet<string> DocumentedSeries() =>
        File.ReadAllLines(Path.Combine(Root, "docs", "operations.md"))
            .Select(line => DocumentedRow().Match(line))
            .Where(m => m.Success)
            .Select(m => m.Groups[1].Value)
            .ToHashSet(StringComparer.Ordinal);

    // Series a query names (label matchers and by/without groupings left out), histogram suffixes folded onto their family.
    private static IEnumerable<string> SeriesIn(string expression) =>
        SeriesName().Matches(LabelParts().Replace(expression, " ")).Select(m => m.Value)
            .Select(s => HistogramSuffix().Replace(s, ""))
            .Distinct();

    private static void AssertQuery(string where, string expression, HashSet<string> documented)
    {
        Assert.False(string.IsNullOrWhiteSpace(expression), $"{where}: empty expression");
        // PromQL's brackets must pair up: (), {}, [].
        var open = new Stack<char>();
        foreach (var c in Regex.Replace(expression, "\"[^\"]*\"", ""))
        {
            if (c is '(' or '{' or '[') open.Push(c);
            else if (c is ')' or '}' or ']')
            {
                Assert.True(open.Count > 0 && open.Pop() == c switch { ')' => '(', '}' => '{', _ => '[' }, $"{where}: unbalanced '{c}' in {expression}");
            }
        }
        Assert.True(open.Count == 0, $"{where}: unclosed bracket in {expression}");
        var series = SeriesIn(expression).ToArray();
        // Orleans' own series (orleans_*) and Prometheus' up are documented by their owners.
        Assert.True(series.Length > 0 || expression.Contains("orleans_", StringComparison.Ordinal) || expression.Contains("up{", StringComparison.Ordinal),
            $"{where}: queries no Mesh series");
        foreach (var s in series) Assert.True(documented.Contains(s), $"{where}: series {s} is not in docs/operations.md");
    }

    [Fact]
    public void The_metrics_table_documents_every_instrument_the_mesh_defines()
    {
        var documented = DocumentedSeries();
        var instruments = typeof(Mesh.Abstractions.Telemetry.MeshTelemetry.Instruments)
            .GetFields().Select(f => (string)f.GetValue(null)!).ToArray();
        var table = File.ReadAllText(Path.Combine(Root, "docs", "operations.md"));
        foreach (var instrument in instruments) Assert.Contains($"| `{instrument}` |", table);
        Assert.Equal(instruments.Length, documented.Count);
    }

    [Fact]
    public void Alert_rules_parse_have_their_fields_and_query_documented_series()
    {
        var documented = DocumentedSeries();
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Root, "docs", "ops", "mesh-alerts.yml"))) yaml.Load(reader);
        var groups = (YamlSequenceNode)((YamlMappingNode)yaml.Documents.Single().RootNode).Children[new YamlScalarNode("groups")];
        var alerts = new List<string>();
        foreach (YamlMappingNode group in groups)
        {
            Assert.False(string.IsNullOrEmpty(((YamlScalarNode)group.Children[new YamlScalarNode("name")]).Value));
            foreach (YamlMappingNode rule in (YamlSequenceNode)group.Children[new YamlScalarNode("rules")])
            {
                string Field(string name) => rule.Children.TryGetValue(new YamlScalarNode(name), out var v) ? ((YamlScalarNode)v).Value ?? "" : "";
                var alert = Field("alert");
                Assert.Matches("^Mesh[A-Z][A-Za-z]+$", alert);
                Assert.Matches(@"^[0-9]+[smh]$", Field("for"));
                AssertQuery(alert, Field("expr"), documented);
                var labels = (YamlMappingNode)rule.Children[new YamlScalarNode("labels")];
                Assert.Contains(((YamlScalarNode)labels.Children[new YamlScalarNode("severity")]).Value, new[] { "critical", "warning", "info" });
                var annotations = (YamlMappingNode)rule.Children[new YamlScalarNode("annotations")];
                Assert.True(annotations.Children.ContainsKey(new YamlScalarNode("summary")), $"{alert}: no summary");
                alerts.Add(alert);
            }
        }
        // The issue's list: region down, replication lag, error rate, queue saturation, edge sync stalled, drift.
        Assert.Superset(new HashSet<string> { "MeshRegionDown", "MeshReplicationLagHigh", "MeshErrorRateHigh", "MeshQueueSaturated", "MeshEdgeSyncStalled", "MeshModelDrift" },
            alerts.ToHashSet());
        Assert.Equal(alerts.Count, alerts.Distinct().Count());
    }

    [Fact]
    public void The_dashboard_parses_and_every_panel_queries_documented_series()
    {
        var documented = DocumentedSeries();
        using var dashboard = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "docs", "ops", "mesh-dashboard.json")));
        var root = dashboard.RootElement;
        Assert.Equal("mesh-overview", root.GetProperty("uid").GetString());
        var panels = root.GetProperty("panels").EnumerateArray().ToArray();
        Assert.True(panels.Length >= 10);
        Assert.Equal(panels.Length, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
        var queried = new HashSet<string>(StringComparer.Ordinal);
        foreach (var panel in panels)
        {
            var title = panel.GetProperty("title").GetString()!;
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                var expr = target.GetProperty("expr").GetString()!;
                AssertQuery(title, expr, documented);
                queried.UnionWith(SeriesIn(expr));
            }
        }
        // The console's questions: traffic, latency, cold starts, sessions, replication, edge.
        Assert.Superset(new HashSet<string> { "mesh_predict_requests_total", "mesh_predict_duration_milliseconds", "mesh_cold_starts_total",
            "mesh_sessions_loaded", "mesh_replication_lag_milliseconds", "mesh_fleet_sync_age_max_seconds", "mesh_fleet_devices_drifting" }, queried);
    }

    [GeneratedRegex(@"^\| `mesh\.[a-z_.]+` \| `([a-z_]+)` \|")]
    private static partial Regex DocumentedRow();

    [GeneratedRegex(@"\{[^}]*\}|\b(by|without)\s*\([^)]*\)")]
    private static partial Regex LabelParts();

    [GeneratedRegex(@"\bmesh_[a-z_]+")]
    private static partial Regex SeriesName();

    [GeneratedRegex(@"_(bucket|sum|count)$")]
    private static partial Regex HistogramSuffix();
}
