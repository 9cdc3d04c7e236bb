using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Mesh.IntegrationTests.Gateway;
using Mesh.IntegrationTests.Infrastructure;
using Mesh.SampleModels;
using Microsoft.Playwright;

namespace Mesh.IntegrationTests.Operations;

/// <summary>
/// The Orleans Dashboard at /dashboard (Mesh:Telemetry:OrleansDashboard): grain-level views of the silo, behind the
/// gateway's admin key, which a browser is asked for (HTTP Basic) because the dashboard's page cannot send a bearer key.
/// </summary>
[Trait("Category", "Integration")]
public class OrleansDashboardTests(SecuredGateway gateway) : IClassFixture<SecuredGateway>
{
    private static AuthenticationHeaderValue Basic(string key) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("operator:" + key)));

    private async Task<HttpResponseMessage> GetAsync(string path, AuthenticationHeaderValue? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = authorization;
        return await gateway.Http.SendAsync(request);
    }

    [Fact]
    public async Task Without_a_key_the_browser_is_asked_for_one_and_an_infer_key_is_refused()
    {
        using var anonymous = await GetAsync("/dashboard/", null);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.StartsWith("Basic realm=", anonymous.Headers.WwwAuthenticate.ToString());
        using var infer = await GetAsync("/dashboard/DashboardCounters", Basic(SecuredGateway.InferKey));
        Assert.Equal(HttpStatusCode.Forbidden, infer.StatusCode);
        using var wrong = await GetAsync("/dashboard/", Basic("not-a-key"));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);

        // The API's own refusals still name the bearer scheme: no login box pops up over the console's calls.
        using var api = await GetAsync("/v2/models/mlp", null);
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        Assert.Equal("Bearer", api.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task With_the_admin_key_it_serves_its_page_and_counts_the_meshs_grains()
    {
        using (var page = await GetAsync("/dashboard/", Basic(SecuredGateway.AdminKeyValue)))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        }

        // A predict activates the mesh's grains; the dashboard's counters list their types with activations.
        using (var infer = new HttpRequestMessage(HttpMethod.Post, "/v2/models/mlp/infer"))
        {
            infer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SecuredGateway.AdminKeyValue);
            infer.Content = new StringContent($$"""{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[{{GatewayHttp.FloatList(MlpModel.SampleInput(1))}}]}]}""",
                Encoding.UTF8, "application/json");
            using var answer = await gateway.Http.SendAsync(infer);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }
        string counters = "";
        for (var i = 0; i < 50 && !counters.Contains("Mesh.Grains", StringComparison.Ordinal); i++)
        {
            using var response = await GetAsync("/dashboard/DashboardCounters", Basic(SecuredGateway.AdminKeyValue));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            counters = await response.Content.ReadAsStringAsync();
            await Task.Delay(200);
        }
        using var json = JsonDocument.Parse(counters);
        Assert.Contains("Mesh.Grains", counters);
        Assert.True(json.RootElement.GetProperty("totalActiveHostCount").GetInt32() >= 1, counters);
        // A bearer admin key works as well, for scripts.
        using var bearer = await GetAsync("/dashboard/ClusterStats", new AuthenticationHeaderValue("Bearer", SecuredGateway.AdminKeyValue));
        Assert.Equal(HttpStatusCode.OK, bearer.StatusCode);
    }

    [Fact, Trait("Category", "Browser")]
    public async Task A_browser_given_the_admin_key_at_the_login_prompt_shows_the_meshs_grains()
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ConsoleBrowserTests.Chromium,
            Headless = true,
            Args = ConsoleBrowserTests.ChromiumArgs,
        });
        // What a person types into the browser's login box: any user name, an admin key as the password.
        var page = await browser.NewPageAsync(new BrowserNewPageOptions
        {
            HttpCredentials = new HttpCredentials { Username = "operator", Password = SecuredGateway.AdminKeyValue },
            ViewportSize = new ViewportSize { Width = 1400, Height = 1000 },
        });
        var opened = await page.GotoAsync(gateway.BaseAddress + "dashboard/");
        Assert.Equal(200, opened?.Status);
        // The page's own calls carry the same credentials: the overview counts activations, the grains page lists
        // the mesh's grain types (from /dashboard/DashboardCounters).
        await Assertions.Expect(page.GetByText("Total activations", new() { Exact = false }).First).ToBeVisibleAsync(new() { Timeout = 20_000 });
        await page.GotoAsync(gateway.BaseAddress + "dashboard/#/grains");
        await Assertions.Expect(page.GetByText("ModelGrain").First).ToBeVisibleAsync(new() { Timeout = 20_000 });
        var screenshot = Path.Combine(MeshProcess.RepositoryRoot, "TestResults", "orleans-dashboard.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
    }
}
