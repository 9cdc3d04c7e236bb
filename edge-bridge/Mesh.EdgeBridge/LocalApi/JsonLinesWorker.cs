using System.Text;
using System.Text.Json;
using Mesh.Protocol;
using Mesh.Edge.Predicting;

namespace Mesh.EdgeBridge.LocalApi;

/// <summary>
/// Predicts for pipes: each stdin line is an infer request with a "model" field (and optionally "id"); each
/// answer is one stdout line, {"id", "sequence", "origin", "response"} or {"id", "error"}. Lines are answered
/// as they finish (up to 64 at once, so results share outbox commits); "id" pairs them up.
/// </summary>
public sealed class JsonLinesWorker(EdgePredictor predictor, ILogger<JsonLinesWorker> logger) : BackgroundService
{
    private const int InFlight = 64;
    private readonly SemaphoreSlim _slots = new(InFlight, InFlight);
    private readonly SemaphoreSlim _output = new(1, 1);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        await Task.Yield();
        using var input = new StreamReader(Console.OpenStandardInput(), Encoding.UTF8);
        var stdout = Console.OpenStandardOutput();
        var running = new List<Task>();
        while (!stopping.IsCancellationRequested && await input.ReadLineAsync(stopping) is { } line)
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            await _slots.WaitAsync(stopping);
            running.Add(AnswerAsync(line, stdout));
            running.RemoveAll(t => t.IsCompleted);
        }
        await Task.WhenAll(running);
        logger.LogInformation("stdin closed; the JSON lines API stopped (the HTTP API keeps serving)");
    }

    private async Task AnswerAsync(string line, Stream stdout)
    {
        string? id = null;
        byte[] answer;
        try
        {
            var bytes = Encoding.UTF8.GetBytes(line);
            string model;
            using (var document = JsonDocument.Parse(bytes))
            {
                var root = document.RootElement;
                if (root.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String) id = i.GetString();
                model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String
                    ? m.GetString()! : throw new Mesh.Abstractions.Errors.InvalidRequestException("model", "must name the model (a string)");
            }
            var (request, _) = InferenceJson.ReadRequest(model, null, bytes, ReadOnlyMemory<byte>.Empty);
            var prediction = await predictor.PredictAsync(request);
            answer = Write(json =>
            {
                if (id is not null) json.WriteString("id", id);
                json.WriteNumber("sequence", prediction.Sequence);
                json.WriteString("origin", prediction.Origin);
                json.WritePropertyName("response");
                InferenceJson.WriteResponse(json, prediction.Response);
            });
        }
        catch (Exception e)
        {
            // Every line gets an answer; a fault of the bridge itself is logged as well.
            if (LocalEndpoints.StatusOf(e) is null) logger.LogError(e, "A JSON lines predict failed");
            answer = Write(json =>
            {
                if (id is not null) json.WriteString("id", id);
                json.WriteString("error", e.Message);
            });
        }
        finally
        {
            _slots.Release();
        }
        await _output.WaitAsync();
        try
        {
            await stdout.WriteAsync(answer);
            await stdout.FlushAsync();
        }
        finally
        {
            _output.Release();
        }
    }

    private static byte[] Write(Action<Utf8JsonWriter> body) => [.. DeviceSyncJson.Object(body), (byte)'\n'];
}
