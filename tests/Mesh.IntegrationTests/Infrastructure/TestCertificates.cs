using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.IntegrationTests.Infrastructure;

/// <summary>
/// A certificate authority and certificates it issues, written as PEM files into a folder: what docs/security.md's
/// openssl recipe makes, made in-process so the tests need no openssl.
/// </summary>
public sealed class TestCertificates
{
    private readonly string _folder;
    private readonly X509Certificate2 _authority;
    private readonly ECDsa _authorityKey;

    public TestCertificates(string folder, string name = "mesh-test-ca")
    {
        _folder = folder;
        Directory.CreateDirectory(folder);
        _authorityKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", _authorityKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _authority = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CaPath = Path.Combine(folder, name + ".pem");
        File.WriteAllText(CaPath, _authority.ExportCertificatePem());
    }

    /// <summary>The authority's certificate (PEM).</summary>
    public string CaPath { get; }

    /// <summary>Issues a certificate for both TLS roles (a silo is a server and, on its links, a client); returns its PEM and key paths.</summary>
    public (string Certificate, string Key) Issue(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        var serial = RandomNumberGenerator.GetBytes(12);
        using var certificate = request.Create(_authority, DateTimeOffset.UtcNow.AddDays(-1), _authority.NotAfter.AddDays(-1), serial);
        var certificatePath = Path.Combine(_folder, name + ".pem");
        var keyPath = Path.Combine(_folder, name + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }
}
