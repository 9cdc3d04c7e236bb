using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using Mesh.Abstractions.Grains;
using Mesh.Protocol;
using Mesh.Abstractions.Telemetry;
using Mesh.Edge.Configuration;
using Mesh.Edge.Telemetry;
using Mesh.Edge.Predicting;
using Mesh.Edge.Outbox;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Mesh.Edge.Sync;

/// <summary>What the bridge knows of its sync, for the local status endpoint.</summary>
public sealed class SyncState
{
    public long AppliedThrough { get; set; }
    public DateTimeOffset? LastSyncAt { get; set; }
    public string? LastError { get; set; }
    public long Syncs { get; set; }
    public Dictionary<string, string> Desired { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Drains the outbox to the home region: the oldest results first, in batches, each result with its sequence
/// number, declared losses and the reported twin alongside. A batch is forgotten only after the mesh answered for
/// it, so a crash or a dropped answer sends it again, and the mesh ignores numbers it holds. While the mesh cannot
/// be reached it retries with exponential backoff and jitter (Polly), and resumes from the outbox, however long
/// the partition.
/// </summary>
public sealed class SyncWorker(
    ResultOutbox outbox,
    LocalModels models,
    Updates.ModelUpdater updates,
    Drift.DriftStatistics drift,
    SyncState state,
    IHttpClientFactory http,
    IOptions<EdgeBridgeOptions> options,
    ILogger<SyncWorker> logger) : BackgroundService
{
    public const string HttpClientName = "mesh";
    private readonly EdgeBridgeOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (string.IsNullOrEmpty(_options.MeshUrl))
        {
            logger.LogWarning("Mesh:Edge:MeshUrl is not set: results stay in the outbox at {Path}", outbox.Path);
            return;
        }
        var retry = new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException || !stopping.IsCancellationRequested),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(200),
            MaxDelay = _options.Sync.MaxBackoff,
            MaxRetryAttempts = int.MaxValue,
            OnRetry = args =>
            {
                state.LastError = args.Outcome.Exception?.Message;
                if (args.AttemptNumber == 0) logger.LogWarning("Sync to {Mesh} failed; retrying with backoff: {Error}", _options.MeshUrl, state.LastError);
                return ValueTask.CompletedTask;
            },
        }).Build();

        while (!stopping.IsCancellationRequested)
        {
            var sent = await retry.ExecuteAsync(async token => await SyncOnceAsync(token), stopping);
            if (sent < BatchSize) await Task.Delay(Interval, stopping);
        }
    }

    private const int MaxLinks = 128;

    /// <summary>Sends one batch (possibly empty: then it reports the twin) and returns how many results it carried.</summary>
    private async Task<int> SyncOnceAsync(CancellationToken cancellation)
    {
        var (pending, lost) = outbox.ReadBatch(BatchSize);
        var reported = Reported();
        var driftDue = DateTimeOffset.UtcNow - _lastDriftAt >= _options.Sync.DriftInterval;
        var samples = driftDue ? drift.Changed() : [];
        // The send is a span of its own (a new trace: the results come from many predicts), linked to each result's
        // predict; its context travels in the batch.
        using var span = EdgeTelemetry.Source.StartActivity(MeshTelemetry.Spans.EdgeSync, ActivityKind.Client, default(ActivityContext),
            links: pending.Select(p => p.TraceParent).OfType<string>().Take(MaxLinks)
                .Select(t => ActivityContext.TryParse(t, null, out var c) ? new ActivityLink(c) : default).Where(l => l.Context != default));
        span?.SetTag(MeshTelemetry.Tags.Results, pending.Length);
        var reporting = ShouldReport(reported);
        var body = DeviceSyncJson.WriteBatch(pending.Select(p => p.Row).ToArray(), lost, reporting ? reported : null, samples, span?.Id);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"v2/devices/{Uri.EscapeDataString(_options.DeviceId)}/sync");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.Token);
        request.Content = body.Length > _options.Sync.CompressAboveBytes ? Gzip(body) : new ByteArrayContent(body);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await http.CreateClient(HttpClientName).SendAsync(request, cancellation);
        var answer = await response.Content.ReadAsByteArrayAsync(cancellation);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
            throw new HttpRequestException($"the mesh refused the device token: {System.Text.Encoding.UTF8.GetString(answer)}", null, response.StatusCode);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"sync answered {(int)response.StatusCode}: {System.Text.Encoding.UTF8.GetString(answer)}", null, response.StatusCode);
        var ack = DeviceSyncJson.ReadAck(answer);

        var through = pending.Length > 0 ? pending[^1].Sequence : 0;
        await outbox.AcknowledgeAsync(through, lost);
        (state.AppliedThrough, state.LastSyncAt, state.LastError, state.Desired) = (ack.AppliedThrough, DateTimeOffset.UtcNow, null, ack.Desired);
        state.Syncs++;
        if (reporting) (_lastReported, _lastReportAt) = (reported, DateTimeOffset.UtcNow);
        if (driftDue)
        {
            drift.Acknowledge(samples);
            _lastDriftAt = DateTimeOffset.UtcNow;
        }
        if (ack.MissingCount > 0) logger.LogWarning("The mesh misses {Missing} results below its highest; they were neither synced nor declared lost", ack.MissingCount);
        return pending.Length;
    }

    // Desired sync settings from the twin win over the bridge's own (the cloud owns the desired half).
    private int BatchSize =>
        state.Desired.TryGetValue(DesiredKeys.SyncBatchSize, out var text) && int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var size) && size is >= 1 and <= 2048
            ? size : _options.Sync.BatchSize;

    private TimeSpan Interval =>
        state.Desired.TryGetValue(DesiredKeys.SyncInterval, out var text) && TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var every) && every > TimeSpan.Zero
            ? every : _options.Sync.Interval;

    private DateTimeOffset _lastDriftAt;
    private Dictionary<string, string?>? _lastReported;
    private DateTimeOffset _lastReportAt;

    // Each report is an event on the device's stream: send one when the versions or health changed, and the
    // changing numbers (outbox depth) at most every ReportInterval, not with every batch.
    private bool ShouldReport(Dictionary<string, string?> reported)
    {
        if (_lastReported is null) return true;
        if (reported.Any(p => !p.Key.StartsWith("outbox.", StringComparison.Ordinal) && _lastReported.GetValueOrDefault(p.Key) != p.Value)) return true;
        return DateTimeOffset.UtcNow - _lastReportAt >= _options.Sync.ReportInterval && reported.Any(p => _lastReported.GetValueOrDefault(p.Key) != p.Value);
    }

    // The device's half of the twin: what it runs and how its outbox stands.
    private Dictionary<string, string?> Reported()
    {
        var reported = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["bridge.health"] = "ok",
            [DesiredKeys.SyncBatchSize] = BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [DesiredKeys.SyncInterval] = Interval.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
            ["outbox.depth"] = outbox.Depth.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["outbox.lost"] = outbox.LostTotal.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        foreach (var model in models.All)
        {
            reported[DesiredKeys.Version(model.Name)] = model.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
            reported[DesiredKeys.Sha256(model.Name)] = model.Sha256;
        }
        foreach (var (model, outcome) in updates.Outcomes) reported[DesiredKeys.Update(model)] = outcome;
        return reported;
    }

    private static ByteArrayContent Gzip(byte[] body)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(body);
        var content = new ByteArrayContent(buffer.ToArray());
        content.Headers.ContentEncoding.Add("gzip");
        return content;
    }
}
