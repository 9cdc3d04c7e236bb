using System.Diagnostics;
using System.Text.Json;
using Mesh.IntegrationTests.Infrastructure;

namespace Mesh.IntegrationTests.Operations;

/// <summary>Structured logs: with Mesh:Telemetry:JsonLogs a log line written during a request names its trace.</summary>
[Trait("Category", "Process")]
public class LogTests
{
    [Fact]
    public async Task A_json_log_line_written_during_a_request_carries_the_callers_trace_id()
    {
        var http = MeshProcess.FreePort();
        var data = Path.Combine(Path.GetTempPath(), "mesh-tests", $"logs-{Guid.NewGuid():N}");
        await using var silo = MeshProcess.Start(MeshProcess.BuiltAssembly("silos/Mesh.Silo", "Mesh.Silo.dll"), [], new Dictionary<string, string>(MeshProcess.SiloSettings(MeshProcess.FreePort(), http, data))
        {
            ["Mesh__Silo__DeploySampleModel"] = "false",
            ["Mesh__Telemetry__JsonLogs"] = "true",
            // ASP.NET Core's "Request starting" line is written inside the request's span.
            ["Logging__LogLevel__Microsoft.AspNetCore.Hosting"] = "Information",
        });
        try
        {
            await silo.WaitForOutputAsync("Mesh silo ready:", TimeSpan.FromSeconds(60));
            var trace = ActivityTraceId.CreateRandom();
            using (var client = new HttpClient())
            using (var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{http}/v2/models/unknown-model"))
            {
                request.Headers.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");
                using var response = await client.SendAsync(request);
                Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
            }
            await silo.WaitForOutputAsync(trace.ToString(), TimeSpan.FromSeconds(10));
            var line = silo.Stdout.Split('\n').First(l => l.Contains(trace.ToString(), StringComparison.Ordinal));
            using var json = JsonDocument.Parse(line);
            Assert.Equal("Microsoft.AspNetCore.Hosting.Diagnostics", json.RootElement.GetProperty("Category").GetString());
            Assert.Contains(json.RootElement.GetProperty("Scopes").EnumerateArray(),
                scope => scope.ValueKind == JsonValueKind.Object && scope.TryGetProperty("TraceId", out var id) && id.GetString() == trace.ToString());
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); } catch (IOException) { }
        }
    }
}
