using System.Security.Cryptography;
using System.Text;

namespace Mesh.Protocol;

/// <summary>
/// Signatures of model artifacts for over-the-air updates: ECDSA P-256 with SHA-256 over the artifact's SHA-256 in
/// lower-case hex. The mesh signs with a private key (Mesh:Gateway:ArtifactSigningKey); a bridge configured with the
/// public key (Mesh:Edge:ArtifactPublicKey) installs only artifacts whose signature verifies.
/// </summary>
public static class ArtifactSignature
{
    public const string Header = "Mesh-Artifact-Signature";

    public static string Sign(ECDsa key, string sha256) =>
        Convert.ToBase64String(key.SignData(Encoding.ASCII.GetBytes(sha256), HashAlgorithmName.SHA256));

    public static bool Verify(ECDsa key, string sha256, string signature)
    {
        try
        {
            return key.VerifyData(Encoding.ASCII.GetBytes(sha256), Convert.FromBase64String(signature), HashAlgorithmName.SHA256);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>A key from a PEM file (private for the mesh, public for a bridge); the error names the setting.</summary>
    public static ECDsa Load(string path, string setting)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
            return key;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException or IOException)
        {
            key.Dispose();
            throw new InvalidOperationException($"{setting}: '{path}' is not a PEM EC key: {e.Message}", e);
        }
    }
}
