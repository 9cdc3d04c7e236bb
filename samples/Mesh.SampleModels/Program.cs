using Mesh.SampleModels;

// Writes the generated sample models. Usage:
//   dotnet run --project samples/Mesh.SampleModels -- mlp samples/models/mlp-small.onnx [hidden-width]
//   dotnet run --project samples/Mesh.SampleModels -- echo samples/models/echo.onnx
if (args.Length < 2 || args[0] is not ("mlp" or "echo"))
{
    Console.Error.WriteLine("usage: Mesh.SampleModels mlp OUT [hidden-width] | echo OUT");
    return 2;
}

var bytes = args[0] == "mlp"
    ? MlpModel.Build(new MlpModel.Options(Hidden: args.Length > 2 ? int.Parse(args[2]) : 256))
    : EchoModel.Build();
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(args[1]))!);
File.WriteAllBytes(args[1], bytes);
Console.WriteLine($"wrote {args[1]} ({bytes.Length} bytes)");
return 0;
