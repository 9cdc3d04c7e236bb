using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Mesh.IntegrationTests.Gateway;

/// <summary>Small helpers for talking to the gateway as any HTTP client would.</summary>
public static class GatewayHttp
{
    public static async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(this HttpClient http, HttpMethod method, string path, string? json = null, string? key = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public static Task<(HttpStatusCode Status, JsonElement Body)> GetJsonAsync(this HttpClient http, string path, string? key = null) =>
        http.SendAsync(HttpMethod.Get, path, null, key);

    public static Task<(HttpStatusCode Status, JsonElement Body)> PostJsonAsync(this HttpClient http, string path, string json, string? key = null) =>
        http.SendAsync(HttpMethod.Post, path, json, key);

    public static string FloatList(IEnumerable<float> values) =>
        string.Join(",", values.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));

    public static float[] Floats(JsonElement data) => data.EnumerateArray().Select(v => v.GetSingle()).ToArray();
}
