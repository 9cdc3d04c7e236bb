// The Mesh edge bridge: local ONNX Runtime inference for a device's models, every result kept in a durable outbox
// and synced to the device's home region exactly once in effect. Settings: appsettings.json, then environment
// variables (Mesh__Edge__DeviceId=cam-1), then the command line (--Mesh:Edge:DeviceId cam-1).
using Mesh.EdgeBridge.Hosting;
using Microsoft.Extensions.Options;

try
{
    // appsettings.json beside the program, wherever it is started from (a device's service manager starts it anywhere).
    var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
    builder.AddEdgeBridge();
    var app = builder.Build();
    app.MapEdgeBridge();
    await app.RunAsync();
    return 0;
}
catch (OptionsValidationException e)
{
    // The settings' own words (each names its key), not a stack trace: a device's service manager logs this line.
    Console.Error.WriteLine($"configuration error: {string.Join("; ", e.Failures)}");
    return 2;
}
