using Mesh.Cli;

return await MeshCommands.Build().Parse(args).InvokeAsync();
