using Mesh.FraudModel;
using Microsoft.ML;

// Trains the fraud classifier on synthetic transactions and exports it to ONNX.
//   dotnet run --project samples/Mesh.FraudModel -- samples/models/fraud.onnx
var output = args.Length > 0 ? args[0] : "samples/models/fraud.onnx";
var ml = new MLContext(seed: 1);

var train = ml.Data.LoadFromEnumerable(TransactionGenerator.Generate(20_000, seed: 11));
var test = ml.Data.LoadFromEnumerable(TransactionGenerator.Generate(5_000, seed: 12));

var pipeline = ml.Transforms.Categorical.OneHotEncoding("CategoryOneHot", nameof(TransactionFeatures.Category))
    .Append(ml.Transforms.Concatenate("Features",
        nameof(TransactionFeatures.Amount), nameof(TransactionFeatures.Hour), nameof(TransactionFeatures.DistanceKm),
        nameof(TransactionFeatures.RecentCount), nameof(TransactionFeatures.Foreign), "CategoryOneHot"))
    .Append(ml.BinaryClassification.Trainers.FastTree(numberOfLeaves: 16, numberOfTrees: 50, minimumExampleCountPerLeaf: 10));

var model = pipeline.Fit(train);
var metrics = ml.BinaryClassification.Evaluate(model.Transform(test));
Console.WriteLine($"test set: AUC {metrics.AreaUnderRocCurve:F4}, accuracy {metrics.Accuracy:F4}, F1 {metrics.F1Score:F4}");

// Exported against a schema without the label, so the ONNX model asks only for the features a caller has.
var featuresOnly = ml.Data.LoadFromEnumerable(new[] { new TransactionFeatures() });
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
using (var stream = File.Create(output))
    ml.Model.ConvertToOnnx(model, featuresOnly, stream);
Console.WriteLine($"wrote {output} ({new FileInfo(output).Length} bytes)");
