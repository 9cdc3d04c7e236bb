using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace Mesh.Client.Security;

/// <summary>
/// Mutual TLS on Orleans connections (<c>Mesh:Silo:Tls</c> for a silo's own links, <c>Mesh:Client:Tls</c> for an
/// SDK or CLI client). Each side shows a certificate issued by the mesh's certificate authority and accepts only a
/// peer whose certificate chains to that authority. Off when no certificate is configured.
/// </summary>
public sealed class MeshTlsOptions
{
    /// <summary>This side's certificate: a PFX file, or a PEM file with <see cref="KeyPath"/>.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of a PEM <see cref="CertificatePath"/>; empty for a PFX or a PEM holding both.</summary>
    public string? KeyPath { get; set; }

    /// <summary>Password of a PFX file.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>PEM file of the authority every peer's certificate must chain to (the mesh's CA).</summary>
    public string? CaPath { get; set; }

    public bool Enabled => !string.IsNullOrEmpty(CertificatePath);

    /// <summary>What is wrong with these settings, each naming its key under <paramref name="section"/>.</summary>
    public IEnumerable<string> Validate(string section)
    {
        if (!Enabled)
        {
            if (!string.IsNullOrEmpty(CaPath) || !string.IsNullOrEmpty(KeyPath))
                yield return $"{section}:{nameof(CertificatePath)} must be set when {nameof(CaPath)} or {nameof(KeyPath)} is";
            yield break;
        }
        if (!File.Exists(CertificatePath))
            yield return $"{section}:{nameof(CertificatePath)}: no file at '{CertificatePath}'";
        if (!string.IsNullOrEmpty(KeyPath) && !File.Exists(KeyPath))
            yield return $"{section}:{nameof(KeyPath)}: no file at '{KeyPath}'";
        if (string.IsNullOrEmpty(CaPath))
            yield return $"{section}:{nameof(CaPath)} must name the PEM of the mesh's certificate authority (peers are trusted by it, not by the system store)";
        else if (!File.Exists(CaPath))
            yield return $"{section}:{nameof(CaPath)}: no file at '{CaPath}'";
    }

    /// <summary>This side's certificate with its private key.</summary>
    public X509Certificate2 LoadCertificate()
    {
        var path = CertificatePath!;
        if (path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase))
            return X509CertificateLoader.LoadPkcs12FromFile(path, CertificatePassword);
        using var pem = X509Certificate2.CreateFromPemFile(path, string.IsNullOrEmpty(KeyPath) ? null : KeyPath);
        // An ephemeral PEM key cannot be used by SslStream on every platform; a PKCS#12 round trip gives it a home.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Accepts a remote certificate only if it chains to the configured authority (names are not checked:
    /// the authority issues certificates to the mesh's silos and clients alone).</summary>
    public RemoteCertificateValidator Validator()
    {
        var authority = X509CertificateLoader.LoadCertificateFromFile(CaPath!);
        return (certificate, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(authority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        };
    }

    /// <summary>The TLS settings for Orleans: this certificate, a peer certificate required both ways, checked against the authority.</summary>
    public void Apply(TlsOptions tls)
    {
        tls.LocalCertificate = LoadCertificate();
        tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.RemoteCertificateValidation = Validator();
        // Orleans connects by IP address; the name in the certificate is not what is trusted, the issuer is.
        tls.OnAuthenticateAsClient = (_, client) => client.TargetHost = "mesh";
    }
}
