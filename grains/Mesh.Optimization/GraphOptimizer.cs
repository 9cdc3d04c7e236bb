using Mesh.Abstractions.Errors;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Optimization;

/// <summary>ONNX Runtime's graph optimization levels, as a file can be saved at.</summary>
public enum GraphLevel { Basic, Extended, All }

/// <summary>
/// ONNX Runtime's graph optimizations done once and saved (its "offline" mode): constant folding, redundant node
/// removal and fusions, so a session loads the finished graph. Extended adds ONNX Runtime's own fused operators
/// (only ONNX Runtime runs the file); All also picks memory layouts for this machine's CPU, so the file is only
/// for machines like it.
/// </summary>
public static class GraphOptimizer
{
    public static byte[] Optimize(string name, byte[] onnx, GraphLevel level)
    {
        var path = Path.Combine(Path.GetTempPath(), $"mesh-optimized-{Guid.NewGuid():N}.onnx");
        try
        {
            using (var options = new SessionOptions
                   {
                       GraphOptimizationLevel = level switch
                       {
                           GraphLevel.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                           GraphLevel.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                           _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
                       },
                       OptimizedModelFilePath = path,
                       IntraOpNumThreads = 1,
                   })
            {
                try
                {
                    using var session = new InferenceSession(onnx, options);
                }
                catch (OnnxRuntimeException e)
                {
                    throw new InvalidModelException(name, e.Message);
                }
            }
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static string Name(GraphLevel level) => "graph-" + level.ToString().ToLowerInvariant();
}
