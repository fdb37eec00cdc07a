using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Migrate.Engine.Credentials;

/// <summary>
/// How a source recognises a target during the TLS handshake, before it
/// sends anything: by a certificate fingerprint from the token file, or by
/// an operator's CA and the host name in <c>--to</c>.
/// </summary>
public abstract class TargetTrust
{
    /// <summary>Accepts exactly the certificates the token file names.</summary>
    public static TargetTrust Pinned(IReadOnlyList<CertificateFingerprint> fingerprints, string tokenFile) =>
        new PinnedTargets(fingerprints, tokenFile);

    /// <summary>Accepts a certificate the authority signed for the host name the source connects to.</summary>
    public static TargetTrust SignedBy(CertificateAuthority authority) => new SignedTargets(authority);

    /// <summary>Null when <paramref name="certificate"/> is the target's; otherwise why it is not.</summary>
    /// <param name="errors">What the TLS stack found, against the system's roots and the host name.</param>
    public abstract string? Refusal(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors);

    private sealed class PinnedTargets(IReadOnlyList<CertificateFingerprint> fingerprints, string tokenFile) : TargetTrust
    {
        // A pinned certificate is self-signed and named for no host: the
        // fingerprint is the whole identity, so the stack's chain and name
        // errors do not apply, and neither do validity dates.
        public override string? Refusal(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (certificate is null)
            {
                return "it presented no certificate";
            }
            var fingerprint = CertificateFingerprint.Of(certificate);
            return fingerprints.Contains(fingerprint)
                ? null
                : $"its certificate's SHA-256 fingerprint is {fingerprint}, which the token file {tokenFile} does not name: " +
                    "it is another agent than the one that wrote the file, or the file is out of date (copy it again from the target host)";
        }
    }

    private sealed class SignedTargets(CertificateAuthority authority) : TargetTrust
    {
        public override string? Refusal(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (certificate is null)
            {
                return "it presented no certificate";
            }
            if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            {
                return $"its certificate ({certificate.Subject}) is not issued for the host name or address in --to";
            }
            return authority.Refusal(certificate, chain, CertificateUse.Server);
        }
    }
}
