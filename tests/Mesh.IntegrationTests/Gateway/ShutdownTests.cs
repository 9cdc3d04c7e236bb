using System.Net;
using Mesh.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mesh.IntegrationTests.Gateway;

public sealed class StoppingGateway() : GatewayFixture;

[Trait("Category", "Integration")]
public class ShutdownTests(StoppingGateway gateway) : IClassFixture<StoppingGateway>
{
    [Fact]
    public async Task Ready_turns_503_while_the_silo_stops_and_live_stays_200()
    {
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.GetJsonAsync("/v2/health/ready")).Status);

        gateway.App.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();

        var seen = new List<(HttpStatusCode Ready, HttpStatusCode Live)>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var ready = await gateway.Http.GetJsonAsync("/v2/health/ready");
                var live = await gateway.Http.GetJsonAsync("/v2/health/live");
                seen.Add((ready.Status, live.Status));
                if (ready.Status == HttpStatusCode.ServiceUnavailable)
                {
                    Assert.False(ready.Body.GetProperty("ready").GetBoolean());
                    Assert.Equal(HttpStatusCode.OK, live.Status);
                    return;
                }
            }
            catch (HttpRequestException)
            {
                break; // the listener is gone
            }
            await Task.Delay(10);
        }
        Assert.Fail($"ready never answered 503 while stopping; saw {string.Join(", ", seen)}");
    }
}
