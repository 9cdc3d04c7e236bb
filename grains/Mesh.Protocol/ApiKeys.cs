using System.Security.Cryptography;
using System.Text;

namespace Mesh.Protocol;

/// <summary>API keys as the gateway stores them: only the SHA-256 of the key, never the key.</summary>
public static class ApiKeys
{
    /// <summary>Lower-case hex SHA-256 of the key's UTF-8 bytes: the value of <c>Mesh:Gateway:ApiKeys:N:Sha256</c>.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(HashBytes(key));

    public static byte[] HashBytes(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>A new random key: 32 bytes, URL-safe base64, prefixed so it is recognisable in a secret store.</summary>
    public static string New() =>
        "mesh_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
