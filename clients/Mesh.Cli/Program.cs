using Mesh.Cli;

return await CommandLineParsing.InvokeAsync(MeshCommands.Build(), args);
