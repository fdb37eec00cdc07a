using System.Security.Cryptography;

namespace Migrate.Engine.Credentials;

/// <summary>
/// The token file (<c>--token-file</c>): the one file an operator copies from
/// the target host to each source host. It holds the token a source presents
/// and the SHA-256 fingerprints of the target certificates a source accepts
/// (several when several targets share the file without sharing a key).
/// The target keeps its private key and operator secret next to it, in
/// files of their own that never leave the target host.
/// </summary>
/// <example>
/// <code>
/// migrate-credential 1
/// token 5f0c...(64 hex digits)
/// target-sha256 3A:91:...:7E
/// </code>
/// </example>
public sealed record CredentialFile(string Token, IReadOnlyList<CertificateFingerprint> Targets)
{
    public const string DefaultPath = "/etc/migrate/token";
    public const int MinimumTokenLength = 32;

    private const string Kind = "migrate-credential";
    private const string TokenField = "token";
    private const string TargetField = "target-sha256";

    private static readonly string[] Comments =
    [
        "Written by migrate-target. Copy it to every source host that migrates to this",
        "target (there: /etc/migrate/token, owned by root, mode 0600). Its holder can use",
        "the target agent; it also names the agent's certificate, so that migrate knows",
        "the agent before it sends the token.",
    ];

    /// <summary>The target's private key and self-signed certificate (PEM), next to the token file.</summary>
    public static string KeyPathFor(string tokenFile) => tokenFile + ".key";

    /// <summary>The target's operator secret, next to the token file: it settles sessions by hand.</summary>
    public static string OperatorPathFor(string tokenFile) => tokenFile + ".operator";

    public static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <param name="path">The file's path, for messages.</param>
    public static CredentialFile Parse(string text, string path)
    {
        var describe = $"the token file {path}";
        var fields = FieldFile.Parse(text, Kind, describe,
            legacy: "holds only a token, as migrate-target wrote it before connections used TLS: on the target host, move it away and start " +
                "migrate-target again, which writes a new one that also names its certificate; then copy that to the source hosts",
            TokenField, TargetField);
        if (fields[TokenField].ToList() is not [var token])
        {
            throw new CredentialException($"{describe} must have one '{TokenField}' line");
        }
        if (token.Length < MinimumTokenLength || !token.All(c => c is > ' ' and <= '~'))
        {
            throw new CredentialException($"{describe}: the token must be at least {MinimumTokenLength} printable characters without spaces");
        }
        var targets = new List<CertificateFingerprint>();
        foreach (var value in fields[TargetField])
        {
            targets.Add(CertificateFingerprint.TryParse(value, out var fingerprint)
                ? fingerprint
                : throw new CredentialException($"{describe}: '{TargetField}' must be 32 bytes of hex, as 'openssl x509 -noout -fingerprint -sha256' prints them"));
        }
        return new CredentialFile(token, targets);
    }

    public string Format() =>
        FieldFile.Format(Kind, Comments, [(TokenField, Token), .. Targets.Select(target => (TargetField, target.ToString()))]);
}
