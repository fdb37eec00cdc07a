using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Migrate.Engine.Credentials;

/// <summary>What a certificate is presented for: its extended key usage must allow it, if it names any.</summary>
public enum CertificateUse
{
    Server,
    Client,
}

/// <summary>
/// An operator's own certificate authorities (<c>--ca</c> on the source,
/// <c>--client-ca</c> on the target): a certificate is trusted when it chains
/// to one of them, and only to them; the system's roots play no part.
/// </summary>
public sealed class CertificateAuthority(X509Certificate2Collection roots, string file)
{
    // RFC 5280, 4.2.1.12: id-kp-serverAuth and id-kp-clientAuth.
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    /// <summary>The PEM bundle the roots came from, for messages.</summary>
    public string File { get; } = file;

    public static CertificateAuthority Load(string file, string what) => new(PemCertificates.LoadAll(file, what), file);

    /// <summary>Null when <paramref name="certificate"/> chains to these roots; otherwise why not.</summary>
    /// <param name="presented">The chain the TLS stack built, whose extra store holds the peer's intermediates.</param>
    public string? Refusal(X509Certificate2 certificate, X509Chain? presented, CertificateUse use)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        // An operator's CA publishes no revocation lists we could reach.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(use == CertificateUse.Server ? ServerAuthentication : ClientAuthentication);
        if (presented is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
        }
        if (chain.Build(certificate))
        {
            return null;
        }
        var problems = chain.ChainStatus.Select(status => status.StatusInformation.Trim()).Where(text => text.Length > 0).Distinct();
        return $"its certificate ({certificate.Subject}) is not signed for {(use == CertificateUse.Server ? "a server" : "a client")} by a CA in {File}: {string.Join("; ", problems)}";
    }
}
