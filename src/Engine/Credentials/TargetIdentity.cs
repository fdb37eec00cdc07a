using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Migrate.Engine.Credentials;

/// <summary>
/// What a target agent holds: the token it requires, the certificate it
/// presents (with its key) and its operator secret. On the first start the
/// agent makes them, each in its own private file beside the token file;
/// agents started on the same token file, at once or later, share them.
/// </summary>
public sealed class TargetIdentity : IDisposable
{
    // RFC 5280, 4.2.1.12.
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");

    private TargetIdentity(string token, X509Certificate2 certificate, string operatorSecret)
    {
        Token = token;
        Certificate = certificate;
        OperatorSecret = operatorSecret;
    }

    public string Token { get; }

    public X509Certificate2 Certificate { get; }

    public string OperatorSecret { get; }

    /// <param name="tokenFile">The credential file for sources; written if missing.</param>
    /// <param name="certificateFile">A certificate to present instead of the self-signed one (an operator's CA signed it), or null.</param>
    /// <param name="keyFile">The private key of <paramref name="certificateFile"/>, if not in that file.</param>
    public static TargetIdentity LoadOrCreate(string tokenFile, string? certificateFile, string? keyFile, TimeProvider time)
    {
        var tokenPath = Path.GetFullPath(tokenFile);
        var certificate = certificateFile is null ? SelfSigned(tokenPath, time) : PemCertificates.LoadWithKey(certificateFile, keyFile);
        try
        {
            var fingerprint = CertificateFingerprint.Of(certificate);
            var credential = CredentialFile.Parse(
                SecretFiles.ReadOrCreate(tokenPath, "token file", () => new CredentialFile(CredentialFile.NewToken(), [fingerprint]).Format()),
                tokenPath);
            // Sources pin what the token file names; with --cert they may
            // use --ca instead, so only the self-signed identity must be named.
            if (certificateFile is null && !credential.Targets.Contains(fingerprint))
            {
                throw new CredentialException(
                    $"the token file {tokenPath} does not name this agent's certificate (SHA-256 {fingerprint}, in {CredentialFile.KeyPathFor(tokenPath)}): " +
                    $"it was written for another key. To share that agent's identity, copy its {Path.GetFileName(CredentialFile.KeyPathFor(tokenPath))} here; " +
                    $"or add the line 'target-sha256 {fingerprint}' to the token file and copy it to the source hosts again");
            }
            var operatorPath = CredentialFile.OperatorPathFor(tokenPath);
            var operatorFile = OperatorFile.Parse(SecretFiles.ReadOrCreate(operatorPath, "operator file", () => OperatorFile.New().Format()), operatorPath);
            return new TargetIdentity(credential.Token, certificate, operatorFile.Secret);
        }
        catch
        {
            certificate.Dispose();
            throw;
        }
    }

    public void Dispose() => Certificate.Dispose();

    private static X509Certificate2 SelfSigned(string tokenPath, TimeProvider time)
    {
        var keyPath = CredentialFile.KeyPathFor(tokenPath);
        var pem = SecretFiles.ReadOrCreate(keyPath, "key file", () => NewSelfSignedPem(time));
        try
        {
            return X509Certificate2.CreateFromPem(pem, pem);
        }
        catch (CryptographicException e)
        {
            throw new CredentialException($"the key file {keyPath} does not hold a PEM private key and its certificate: {e.Message}", e);
        }
    }

    /// <summary>A P-256 key and a certificate for it, signed by itself, as one PEM text.</summary>
    private static string NewSelfSignedPem(TimeProvider time)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=migrate-target on {Environment.MachineName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuthentication], critical: false));
        // Sources pin this certificate, so it need not expire: RFC 5280,
        // 4.1.2.5, gives 99991231235959Z for "no well-defined expiration date".
        using var certificate = request.CreateSelfSigned(time.GetUtcNow().AddDays(-1), new DateTimeOffset(9999, 12, 31, 23, 59, 59, TimeSpan.Zero));
        return key.ExportPkcs8PrivateKeyPem() + "\n" + certificate.ExportCertificatePem() + "\n";
    }
}
