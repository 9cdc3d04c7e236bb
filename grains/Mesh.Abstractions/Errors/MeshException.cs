namespace Mesh.Abstractions.Errors;

/// <summary>
/// Base of every error the mesh reports to a caller. The subclasses group by what the caller did wrong, so a
/// gateway maps them to a status (bad request, not found, ...) without a table of names.
/// </summary>
[GenerateSerializer]
public abstract class MeshException : Exception
{
    protected MeshException(string message) : base(message) { }
}

/// <summary>The thing named does not exist (a model, a version).</summary>
[GenerateSerializer]
public abstract class MeshNotFoundException(string message) : MeshException(message);

/// <summary>The request is wrong in a way the caller can fix (an input, an output name, a model file).</summary>
[GenerateSerializer]
public abstract class MeshInvalidArgumentException(string message) : MeshException(message);

/// <summary>The request's deadline passed before it could run; it was not run.</summary>
[GenerateSerializer]
public sealed class DeadlineExceededException(string model, string stage)
    : MeshException($"model '{model}': the request's deadline passed {stage}; it was not run");

/// <summary>
/// The model's queue in the silo that received the request is full; the request was refused at once, unrun.
/// <see cref="RetryAfter"/> is the time the queue is expected to need to drain.
/// </summary>
[GenerateSerializer]
public sealed class OverloadedException(string model, int version, int queueLimit, TimeSpan retryAfter)
    : MeshException($"model '{model}' version {version}: the queue is full ({queueLimit} requests waiting, the model's MaxQueueSize); retry after {Math.Max(1, (int)Math.Ceiling(retryAfter.TotalMilliseconds))} ms")
{
    [Id(0)] public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>
/// An append to an event stream expected it at one version and found it at another: someone else wrote first.
/// Nothing of the append was stored; read the stream again and decide anew.
/// </summary>
[GenerateSerializer]
public sealed class EventStreamConflictException(string stream, long expectedVersion, long actualVersion)
    : MeshException($"event stream '{stream}': expected version {expectedVersion}, but it is at {actualVersion}; nothing was appended")
{
    [Id(0)] public string Stream { get; } = stream;
    [Id(1)] public long ExpectedVersion { get; } = expectedVersion;
    [Id(2)] public long ActualVersion { get; } = actualVersion;
}

/// <summary>An event in the store cannot be read (unknown type, newer schema, or a payload that is not what its type says).</summary>
[GenerateSerializer]
public sealed class CorruptEventException(string stream, long version, string type, string reason)
    : MeshException($"event stream '{stream}' version {version} (type '{type}') cannot be read: {reason}")
{
    [Id(0)] public string Stream { get; } = stream;
    [Id(1)] public long Version { get; } = version;
}
