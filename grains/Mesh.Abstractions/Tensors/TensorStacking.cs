namespace Mesh.Abstractions.Tensors;

/// <summary>
/// Stacks several requests' tensors along the first (row) dimension and cuts results back into each request's
/// rows. The silo's batcher stacks queued requests this way, and a client stacks the predicts it coalesces, so a
/// group crosses the wire and enters the batcher as one tensor instead of one object per request.
/// </summary>
public static class TensorStacking
{
    /// <summary>
    /// The one rule for what may stack, used by the client's coalescer and the silo's batcher alike: two input sets
    /// share this key exactly when they can be stacked: the same names (in any order: <see cref="Stack"/> matches
    /// them by name), element types and trailing dimensions, and one row count across each set's inputs; with
    /// <paramref name="outputs"/>, the same requested outputs too, since a run answers one set of outputs. Null when
    /// the inputs cannot be stacked at all (none, a scalar, or inputs that disagree on their row count).
    /// </summary>
    public static string? StackKey(NamedTensor[] inputs, string[]? outputs = null)
    {
        if (inputs.Length == 0) return null;
        var rows = RowCount(inputs);
        if (rows is null) return null;
        var key = new System.Text.StringBuilder();
        foreach (var input in inputs.OrderBy(i => i.Name, StringComparer.Ordinal))
        {
            key.Append(input.Name).Append(':').Append((int)input.ElementType).Append('[');
            for (var d = 1; d < input.Shape.Length; d++) key.Append(input.Shape[d]).Append(',');
            key.Append(']');
        }
        key.Append('#').Append(outputs is null ? "*" : string.Join(',', outputs));
        return key.ToString();
    }

    /// <summary>The row count all inputs share, or null when one is a scalar or they disagree.</summary>
    public static int? RowCount(NamedTensor[] inputs)
    {
        if (inputs.Length == 0 || inputs[0].Shape.Length == 0) return null;
        var rows = inputs[0].Shape[0];
        foreach (var input in inputs)
        {
            if (input.Shape.Length == 0 || input.Shape[0] != rows) return null;
        }
        return rows is >= 0 and <= int.MaxValue ? (int)rows : null;
    }

    /// <summary>
    /// One tensor per input name, the parts' rows one after the other. Every part holds the same input names
    /// (looked up by name, so their order may differ) with the same types and trailing dimensions.
    /// </summary>
    public static NamedTensor[] Stack(IReadOnlyList<NamedTensor[]> parts)
    {
        var first = parts[0];
        var result = new NamedTensor[first.Length];
        for (var n = 0; n < first.Length; n++)
        {
            var input = first[n];
            var pieces = new NamedTensor[parts.Count];
            long rows = 0;
            for (var p = 0; p < parts.Count; p++)
            {
                pieces[p] = ReferenceEquals(parts[p], first) ? input : Array.Find(parts[p], i => i.Name == input.Name)
                    ?? throw new ArgumentException($"input '{input.Name}' is missing from part {p}", nameof(parts));
                rows += pieces[p].Shape[0];
            }
            long[] shape = [rows, .. input.Shape.AsSpan(1)];
            if (input.ElementType == TensorElementType.String)
            {
                result[n] = NamedTensor.FromStrings(input.Name, shape, pieces.SelectMany(t => t.Strings!).ToArray());
                continue;
            }
            var data = new byte[pieces.Sum(t => t.Data.Length)];
            var at = 0;
            foreach (var piece in pieces)
            {
                piece.Data.CopyTo(data, at);
                at += piece.Data.Length;
            }
            result[n] = new NamedTensor(input.Name, input.ElementType, shape, data);
        }
        return result;
    }

    /// <summary>
    /// Each tensor cut into consecutive pieces of <paramref name="rows"/> rows. Returns null, naming the tensor in
    /// <paramref name="unsplittable"/>, when a tensor does not hold one row per stacked row.
    /// </summary>
    public static NamedTensor[][]? Split(NamedTensor[] tensors, IReadOnlyList<int> rows, out NamedTensor? unsplittable)
    {
        unsplittable = null;
        long total = 0;
        foreach (var r in rows) total += r;
        var result = new NamedTensor[rows.Count][];
        for (var r = 0; r < rows.Count; r++) result[r] = new NamedTensor[tensors.Length];
        for (var t = 0; t < tensors.Length; t++)
        {
            var tensor = tensors[t];
            if (tensor.Shape.Length == 0 || tensor.Shape[0] != total)
            {
                unsplittable = tensor;
                return null;
            }
            var perRow = total == 0 ? 0 : (tensor.ElementType == TensorElementType.String ? tensor.Strings!.Length : tensor.Data.Length) / total;
            long start = 0;
            for (var r = 0; r < rows.Count; r++)
            {
                var n = rows[r];
                long[] shape = [n, .. tensor.Shape.AsSpan(1)];
                var from = (int)(start * perRow);
                var to = (int)((start + n) * perRow);
                result[r][t] = tensor.ElementType == TensorElementType.String
                    ? NamedTensor.FromStrings(tensor.Name, shape, tensor.Strings![from..to])
                    : new NamedTensor(tensor.Name, tensor.ElementType, shape, tensor.Data[from..to]);
                start += n;
            }
        }
        return result;
    }
}
