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
