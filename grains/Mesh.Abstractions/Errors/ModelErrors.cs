namespace Mesh.Abstractions.Errors;

[GenerateSerializer]
public sealed class ModelNotFoundException(string model)
    : MeshNotFoundException($"model '{model}' is not deployed")
{
    [Id(0)] public string Model { get; } = model;
}

[GenerateSerializer]
public sealed class ModelVersionNotFoundException(string model, int version, int[] existingVersions)
    : MeshNotFoundException($"model '{model}' has no version {version} (versions: {(existingVersions.Length == 0 ? "none" : string.Join(", ", existingVersions))})")
{
    [Id(0)] public string Model { get; } = model;
    [Id(1)] public int Version { get; } = version;
}

/// <summary>A model file that ONNX Runtime cannot load; nothing was stored.</summary>
[GenerateSerializer]
public sealed class InvalidModelException(string model, string reason)
    : MeshInvalidArgumentException($"model '{model}': the file is not a model ONNX Runtime can load: {reason}")
{
    [Id(0)] public string Model { get; } = model;
    [Id(1)] public string Reason { get; } = reason;
}

/// <summary>A model name the registry will not take (empty, too long, or characters outside [A-Za-z0-9._-]).</summary>
[GenerateSerializer]
public sealed class InvalidModelNameException(string model, string rule)
    : MeshInvalidArgumentException($"model name '{model}': {rule}")
{
    [Id(0)] public string Model { get; } = model;
}

/// <summary>ONNX Runtime refused a run that passed the signature checks (e.g. symbolic dimensions that must agree do not).</summary>
[GenerateSerializer]
public sealed class InferenceFailedException(string model, int version, string reason)
    : MeshInvalidArgumentException($"model '{model}' version {version}: ONNX Runtime could not run the request: {reason}")
{
    [Id(0)] public string Model { get; } = model;
    [Id(1)] public int Version { get; } = version;
}

[GenerateSerializer]
public sealed class InvalidPolicyException(string model, string field, string rule)
    : MeshInvalidArgumentException($"model '{model}' policy {field}: {rule}")
{
    [Id(0)] public string Field { get; } = field;
}

/// <summary>
/// The version's artifact cannot be read in this silo: missing from the store, or its bytes no longer match its
/// SHA-256. A storage fault, not the caller's; nothing was run.
/// </summary>
[GenerateSerializer]
public sealed class ModelArtifactUnavailableException(string model, int version, string reason)
    : MeshException($"model '{model}' version {version}: its artifact cannot be loaded: {reason}")
{
    [Id(0)] public string Model { get; } = model;
    [Id(1)] public int Version { get; } = version;
}

/// <summary>
/// The model is pinned to other regions: this region holds none of it and serves none of it. Send the request to
/// one of <see cref="Regions"/>.
/// </summary>
[GenerateSerializer]
public sealed class ModelResidencyException(string model, string[] regions, string region)
    : MeshException($"model '{model}' is pinned to region(s) {string.Join(", ", regions)}; region '{region}' does not hold or serve it")
{
    [Id(0)] public string Model { get; } = model;
    [Id(1)] public string[] Regions { get; } = regions;
    [Id(2)] public string Region { get; } = region;
}

/// <summary>The model was unloaded through the repository API: it serves nothing until it is loaded again.</summary>
[GenerateSerializer]
public sealed class ModelUnloadedException(string model)
    : MeshException($"model '{model}' is unloaded and serves no predicts; load it again (POST /v2/repository/models/{model}/load, gRPC RepositoryModelLoad)")
{
    [Id(0)] public string Model { get; } = model;
}

/// <summary>The version was retired: it serves no predicts and takes no traffic.</summary>
[GenerateSerializer]
public sealed class ModelVersionRetiredException(string model, int version)
    : MeshInvalidArgumentException($"model '{model}' version {version} is retired and serves no predicts; name another version or none")
{
    [Id(0)] public string Model { get; } = model;
    [Id(1)] public int Version { get; } = version;
}

/// <summary>A lifecycle change (traffic split, shadow, promote, rollback, retire) that breaks its rule; nothing was changed.</summary>
[GenerateSerializer]
public sealed class InvalidLifecycleChangeException(string model, string change, string rule)
    : MeshInvalidArgumentException($"model '{model}' {change}: {rule}; nothing was changed")
{
    [Id(0)] public string Model { get; } = model;
    [Id(1)] public string Change { get; } = change;
}

[GenerateSerializer]
public sealed class DeviceNotFoundException(string device)
    : MeshNotFoundException($"device '{device}' is not registered")
{
    [Id(0)] public string Device { get; } = device;
}

/// <summary>A device registration or twin change that breaks its rule; nothing was changed.</summary>
[GenerateSerializer]
public sealed class InvalidDeviceChangeException(string device, string rule)
    : MeshInvalidArgumentException($"device '{device}': {rule}; nothing was changed")
{
    [Id(0)] public string Device { get; } = device;
}

/// <summary>A device sync without the device's current token: refused, nothing applied.</summary>
[GenerateSerializer]
public sealed class DeviceAuthenticationException(string device)
    : MeshException($"device '{device}': the sync token is missing or not the device's current one (issue one with `mesh device token {device}`)")
{
    [Id(0)] public string Device { get; } = device;
}

/// <summary>An Orleans client's call without a key the silos know, when they have keys configured: nothing ran.</summary>
[GenerateSerializer]
public sealed class CallerUnauthenticatedException(string method)
    : MeshException($"{method} needs an API key this mesh knows: set Mesh:Client:ApiKey (the CLI reads MESH_API_KEY)");

/// <summary>An Orleans client's call whose key lacks the role the method needs: nothing ran.</summary>
[GenerateSerializer]
public sealed class CallerForbiddenException(string method, string key, string role, string needed)
    : MeshException($"{method}: the key '{key}' has the role '{role}'; this call needs '{needed}'")
{
    [Id(0)] public string Key { get; } = key;
}
