using Mesh.Silo.Hosting;

// A one-silo mesh on localhost with the embedded default storage and the inference gateway. Settings:
// appsettings.json, then environment variables (Mesh__Silo__GatewayPort=30001), then the command line
// (--Mesh:Silo:GatewayPort 30001).
try
{
    await MeshSiloApp.Create(args).RunAsync();
    return 0;
}
catch (Exception e) when (MeshSiloHosting.IsConfigurationError(e))
{
    Console.Error.WriteLine($"configuration error: {e.Message}");
    return 2;
}
