using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Migrate.Engine.Credentials;

/// <summary>
/// The SHA-256 of a certificate's DER encoding, written as
/// <c>openssl x509 -noout -fingerprint -sha256</c> prints it (AB:CD:...),
/// so an operator can compare the two by eye.
/// </summary>
public sealed record CertificateFingerprint
{
    private const int Bytes = 32;

    private CertificateFingerprint(string hex) => Hex = hex;

    /// <summary>64 uppercase hex digits.</summary>
    public string Hex { get; }

    public static CertificateFingerprint Of(X509Certificate2 certificate) =>
        new(Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256)));

    /// <summary>Reads 32 bytes of hex, with or without colons, in either case.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out CertificateFingerprint? fingerprint)
    {
        var hex = text.Replace(":", "", StringComparison.Ordinal);
        if (hex.Length == Bytes * 2 && hex.All(char.IsAsciiHexDigit))
        {
            fingerprint = new CertificateFingerprint(hex.ToUpperInvariant());
            return true;
        }
        fingerprint = null;
        return false;
    }

    public override string ToString() => string.Join(':', Hex.Chunk(2).Select(pair => new string(pair)));
}
