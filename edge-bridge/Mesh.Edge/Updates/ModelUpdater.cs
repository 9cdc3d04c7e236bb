using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Mesh.Abstractions.Grains;
using Mesh.Protocol;
using Mesh.Abstractions.Tensors;
using Mesh.Edge.Configuration;
using Mesh.Edge.Predicting;
using Mesh.Edge.Sync;
using Microsoft.Extensions.Options;

namespace Mesh.Edge.Updates;

/// <summary>An over-the-air update that was refused; the running version keeps serving.</summary>
public sealed class ModelUpdateException(string reason) : Exception(reason);

/// <summary>
/// Over-the-air model updates. When the twin's desired version of a model (number and artifact SHA-256) differs
/// from the one running, the bridge downloads the file by range into the model cache (a restart resumes the
/// download), checks its SHA-256, loads it, checks that it takes the same inputs as the running version, runs the
/// mesh's validation input and compares the outputs with the mesh's, and only then swaps it in; requests in
/// flight finish on the old version. Any failure leaves the old version serving and is reported in the twin
/// (model.NAME.update); a refused version is not tried again until the desired version changes (to another and back) or the bridge restarts.
/// Rolling back is the same path to an earlier version, usually still in the cache.
/// </summary>
public sealed class ModelUpdater(
    LocalModels models,
    SyncState sync,
    IHttpClientFactory http,
    IOptions<EdgeBridgeOptions> options,
    ILogger<ModelUpdater> logger) : BackgroundService
{
    private const double AbsoluteTolerance = 1e-4;
    private const double RelativeTolerance = 1e-3;
    private readonly EdgeBridgeOptions _options = options.Value;
    private readonly Dictionary<string, string> _lastWanted = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _refused = new(StringComparer.Ordinal);   // "model/sha" -> reason

    /// <summary>How the last update of each model went ("ok: version N" or "failed: version N: reason").</summary>
    public ConcurrentDictionary<string, string> Outcomes { get; } = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (string.IsNullOrEmpty(_options.MeshUrl)) return;
        using var timer = new PeriodicTimer(_options.Sync.Interval);
        while (await timer.WaitForNextTickAsync(stopping))
        {
            foreach (var (name, version, sha) in Wanted())
            {
                // A new desired version clears the refusals: the operator may have fixed the cause.
                if (_lastWanted.GetValueOrDefault(name) != sha)
                {
                    _lastWanted[name] = sha;
                    foreach (var key in _refused.Keys.Where(k => k.StartsWith(name + "/", StringComparison.Ordinal))) _refused.TryRemove(key, out _);
                }
                if (models.Find(name) is { } running && running.Sha256 == sha) continue;
                if (_refused.ContainsKey($"{name}/{sha}")) continue;
                try
                {
                    await UpdateAsync(name, version, sha, stopping);
                    Outcomes[name] = $"ok: version {version}";
                }
                catch (Exception e) when (!stopping.IsCancellationRequested)
                {
                    // Unreachable or slow mesh: try again next tick. Anything about the version itself: refuse it.
                    if (e is HttpRequestException { StatusCode: null } or IOException or TaskCanceledException) continue;
                    _refused[$"{name}/{sha}"] = e.Message;
                    Outcomes[name] = $"failed: version {version}: {e.Message}";
                    logger.LogWarning("Update of model {Model} to version {Version} refused, the running version keeps serving: {Reason}", name, version, e.Message);
                }
            }
        }
    }

    private IEnumerable<(string Model, int Version, string Sha256)> Wanted()
    {
        var desired = sync.Desired;
        foreach (var (key, value) in desired)
        {
            if (!key.StartsWith("model.", StringComparison.Ordinal) || !key.EndsWith(".version", StringComparison.Ordinal)) continue;
            var name = key["model.".Length..^".version".Length];
            if (int.TryParse(value, CultureInfo.InvariantCulture, out var version) && desired.TryGetValue(DesiredKeys.Sha256(name), out var sha))
                yield return (name, version, sha.ToLowerInvariant());
        }
    }

    private async Task UpdateAsync(string name, int version, string sha, CancellationToken cancellation)
    {
        var file = Path.Combine(models.CacheDirectory, sha + ".onnx");
        if (!File.Exists(file) || !HashMatches(file, sha)) await DownloadAsync(name, version, sha, file, cancellation);

        LocalModel next;
        try
        {
            next = LocalModels.Load(name, version, file);
        }
        catch (Mesh.Abstractions.Errors.InvalidModelException e)
        {
            throw new ModelUpdateException($"ONNX Runtime cannot load it: {e.Message}");
        }
        try
        {
            if (models.Find(name) is { } running) CheckSameInputs(running, next);
            await ValidateAsync(next, cancellation);
        }
        catch
        {
            next.Retire();
            throw;
        }
        models.Swap(next);
    }

    private async Task DownloadAsync(string name, int version, string sha, string file, CancellationToken cancellation)
    {
        var partial = file + ".part";
        var have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = Request($"models/{Uri.EscapeDataString(name)}/versions/{version}/artifact");
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = await http.CreateClient(SyncWorker.HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            File.Delete(partial);   // longer than the file: not a prefix of it; start again next tick
            throw new IOException("partial download longer than the artifact; discarded");
        }
        if (!response.IsSuccessStatusCode)
            throw new ModelUpdateException($"download answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellation)}");
        var append = have > 0 && response.StatusCode == HttpStatusCode.PartialContent;
        await using (var target = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write))
        {
            await response.Content.CopyToAsync(target, cancellation);
            await target.FlushAsync(cancellation);
            target.Flush(flushToDisk: true);
        }
        if (!HashMatches(partial, sha, out var actual))
        {
            File.Delete(partial);
            throw new ModelUpdateException($"the downloaded file's SHA-256 is {actual}, not the desired {sha}" + (append ? $" (resumed at byte {have})" : ""));
        }
        if (_options.ArtifactPublicKey is { Length: > 0 } keyPath)
        {
            using var key = ArtifactSignature.Load(keyPath, $"{EdgeBridgeOptions.Section}:{nameof(EdgeBridgeOptions.ArtifactPublicKey)}");
            var signature = response.Headers.TryGetValues(ArtifactSignature.Header, out var values) ? values.FirstOrDefault() : null;
            if (signature is null || !ArtifactSignature.Verify(key, sha, signature))
            {
                File.Delete(partial);
                throw new ModelUpdateException(signature is null
                    ? "the mesh sent no artifact signature, and this bridge requires one (Mesh:Edge:ArtifactPublicKey)"
                    : "the artifact's signature does not verify with Mesh:Edge:ArtifactPublicKey");
            }
        }
        File.Move(partial, file, overwrite: true);
    }

    private static void CheckSameInputs(LocalModel running, LocalModel next)
    {
        foreach (var input in running.Session.Signature.Inputs)
        {
            var match = next.Session.Signature.Inputs.FirstOrDefault(i => i.Name == input.Name);
            if (match is null)
                throw new ModelUpdateException($"it has no input '{input.Name}', which version {running.Version} takes (callers would break)");
            var fits = match.ElementType == input.ElementType && match.Shape.Length == input.Shape.Length
                       && match.Shape.Zip(input.Shape).All(d => d.First < 0 || d.Second < 0 || d.First == d.Second);
            if (!fits)
                throw new ModelUpdateException($"input '{input.Name}' is {match.ElementType} {NamedTensor.ShapeText(match.Shape)}, version {running.Version} takes {input.ElementType} {NamedTensor.ShapeText(input.Shape)} (callers would break)");
        }
    }

    private async Task ValidateAsync(LocalModel next, CancellationToken cancellation)
    {
        using var request = Request($"models/{Uri.EscapeDataString(next.Name)}/versions/{next.Version}/validation");
        using var response = await http.CreateClient(SyncWorker.HttpClientName).SendAsync(request, cancellation);
        var body = await response.Content.ReadAsByteArrayAsync(cancellation);
        if (!response.IsSuccessStatusCode)
            throw new ModelUpdateException($"the mesh gave no validation case ({(int)response.StatusCode}): {System.Text.Encoding.UTF8.GetString(body)}");
        var (inputs, expected) = DeviceSyncJson.ReadValidationCase(body);
        NamedTensor[] actual;
        try
        {
            actual = next.Session.Run(next.Version, inputs);
        }
        catch (Mesh.Abstractions.Errors.MeshException e)
        {
            throw new ModelUpdateException($"it failed on the validation input: {e.Message}");
        }
        foreach (var want in expected)
        {
            var got = actual.FirstOrDefault(a => a.Name == want.Name)
                      ?? throw new ModelUpdateException($"validation: output '{want.Name}' is missing");
            if (!got.Shape.SequenceEqual(want.Shape))
                throw new ModelUpdateException($"validation: output '{want.Name}' has shape {NamedTensor.ShapeText(got.Shape)}, the mesh's {NamedTensor.ShapeText(want.Shape)}");
            if (want.ElementType == TensorElementType.Float32) CheckClose(want, got);
            else if (!got.Data.AsSpan().SequenceEqual(want.Data))
            {
                throw new ModelUpdateException($"validation: output '{want.Name}' differs from the mesh's");
            }
        }
    }

    private static void CheckClose(NamedTensor want, NamedTensor got)
    {
        var w = want.AsSpan<float>();
        var g = got.AsSpan<float>();
        for (var i = 0; i < w.Length; i++)
        {
            if (Math.Abs(w[i] - g[i]) > AbsoluteTolerance + RelativeTolerance * Math.Abs(w[i]))
                throw new ModelUpdateException($"validation: output '{want.Name}'[{i}] is {g[i]}, the mesh's {w[i]}");
        }
    }

    private HttpRequestMessage Request(string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"v2/devices/{Uri.EscapeDataString(_options.DeviceId)}/{path}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.Token);
        return request;
    }

    private static bool HashMatches(string path, string sha) => HashMatches(path, sha, out _);

    private static bool HashMatches(string path, string sha, out string actual)
    {
        using var file = File.OpenRead(path);
        actual = Convert.ToHexStringLower(SHA256.HashData(file));
        return actual == sha;
    }
}
