using Migrate.Engine.Credentials;
using Migrate.Tests.Shared;

namespace Migrate.Engine.Tests.Credentials;

public sealed class CredentialFileTests
{
    private const string Path = "/etc/migrate/token";

    [Fact]
    public void A_written_file_reads_back_with_its_token_and_fingerprints()
    {
        using var first = TestCertificates.SelfSigned("one");
        using var second = TestCertificates.SelfSigned("two");
        var file = new CredentialFile(CredentialFile.NewToken(), [CertificateFingerprint.Of(first), CertificateFingerprint.Of(second)]);

        var read = CredentialFile.Parse(file.Format(), Path);

        Assert.Equal(file.Token, read.Token);
        Assert.Equal(file.Targets, read.Targets);
    }

    [Fact]
    public void A_token_only_file_of_the_old_format_says_what_to_do()
    {
        var e = Assert.Throws<CredentialException>(() => CredentialFile.Parse(new string('a', 64) + "\n", Path));

        Assert.Contains(Path, e.Message, StringComparison.Ordinal);
        Assert.Contains("holds only a token", e.Message, StringComparison.Ordinal);
        Assert.Contains("start migrate-target again", e.Message, StringComparison.Ordinal);
        Assert.Contains("copy that to the source hosts", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(new string('a', 64), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_fingerprint_reads_as_openssl_prints_it_and_in_plain_hex()
    {
        using var certificate = TestCertificates.SelfSigned("agent");
        var fingerprint = CertificateFingerprint.Of(certificate);
        var openssl = fingerprint.ToString();

        Assert.Matches("^([0-9A-F]{2}:){31}[0-9A-F]{2}$", openssl);
        Assert.True(CertificateFingerprint.TryParse(openssl.ToLowerInvariant().Replace(":", "", StringComparison.Ordinal), out var plain));
        Assert.Equal(fingerprint, plain);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(certificate.RawData)), fingerprint.Hex);
    }

    [Theory]
    [InlineData("migrate-credential 1\ntarget-sha256 " + Fingerprint + "\n", "one 'token' line")]
    [InlineData("migrate-credential 1\ntoken " + Token + "\ntoken " + Token + "\n", "one 'token' line")]
    [InlineData("migrate-credential 1\ntoken short\n", "at least 32")]
    [InlineData("migrate-credential 1\ntoken " + Token + "\ntarget-sha256 AB:CD\n", "32 bytes of hex")]
    [InlineData("migrate-credential 1\ntoken " + Token + "\ntarget-sha265 " + Fingerprint + "\n", "line 3 is not one of")]
    [InlineData("migrate-credential 2\ntoken " + Token + "\n", "install the same migrate version")]
    [InlineData("migrate-operator 1\nsecret " + Token + "\n", "is not a migrate-credential file")]
    [InlineData("# only a comment\n\n", "is empty")]
    public void A_malformed_file_is_refused_with_the_reason_and_without_its_secrets(string text, string reason)
    {
        var e = Assert.Throws<CredentialException>(() => CredentialFile.Parse(text, Path));

        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, e.Message, StringComparison.Ordinal);
    }

    private const string Token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private const string Fingerprint = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
}
