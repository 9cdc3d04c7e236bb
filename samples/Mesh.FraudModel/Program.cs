using Mesh.FraudModel;
using Microsoft.ML;

// Trains the fraud classifier on synthetic transactions and exports it to ONNX; with a second path, also writes
// the first 500 test transactions as an infer request (validation rows for `mesh optimize`).
//   dotnet run --project samples/Mesh.FraudModel -- samples/models/fraud.onnx samples/requests/fraud-test.json
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

if (args.Length > 1)
{
    var rows = TransactionGenerator.Generate(5_000, seed: 12).Take(500).ToList();
    string Column(string name, string type, IEnumerable<string> values) =>
        $"    {{ \"name\": \"{name}\", \"shape\": [{rows.Count}, 1], \"datatype\": \"{type}\", \"data\": [{string.Join(", ", values)}] }}";
    static string Number(float value) => value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
    var request = "{\n  \"id\": \"fraud-test-transactions\",\n  \"inputs\": [\n" + string.Join(",\n",
        Column("Amount", "FP32", rows.Select(r => Number(r.Amount))),
        Column("Hour", "FP32", rows.Select(r => Number(r.Hour))),
        Column("DistanceKm", "FP32", rows.Select(r => Number(r.DistanceKm))),
        Column("RecentCount", "FP32", rows.Select(r => Number(r.RecentCount))),
        Column("Foreign", "FP32", rows.Select(r => Number(r.Foreign))),
        Column("Category", "BYTES", rows.Select(r => $"\"{r.Category}\""))) + "\n  ]\n}\n";
    File.WriteAllText(args[1], request);
    Console.WriteLine($"wrote {args[1]} ({rows.Count} test transactions, {rows.Count(r => r.IsFraud)} fraudulent)");
}
