using Migrate.Engine.Credentials;
using Migrate.Tests.Shared;

namespace Migrate.Engine.Tests.Credentials;

public sealed class TargetIdentityTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly TempDirectory _directory = new();

    private string TokenFile => _directory.Combine("migrate", "token");

    [Fact]
    public void The_first_start_writes_a_token_file_that_names_the_agents_certificate_and_keeps_the_secrets_private()
    {
        using var identity = TargetIdentity.LoadOrCreate(TokenFile, null, null, TimeProvider.System);

        var file = CredentialFile.Parse(File.ReadAllText(TokenFile), TokenFile);
        Assert.Equal(identity.Token, file.Token);
        Assert.Equal([CertificateFingerprint.Of(identity.Certificate)], file.Targets);
        Assert.True(identity.Certificate.HasPrivateKey);
        Assert.All(new[] { TokenFile, TokenFile + ".key", TokenFile + ".operator" }, path => Assert.Equal(Private, File.GetUnixFileMode(path)));
        Assert.DoesNotContain(identity.Token, File.ReadAllText(TokenFile + ".key"), StringComparison.Ordinal);
        Assert.Equal(identity.OperatorSecret, OperatorFile.Parse(File.ReadAllText(TokenFile + ".operator"), "operator").Secret);
        Assert.NotEqual(identity.Token, identity.OperatorSecret);
    }

    [Fact]
    public void Agents_started_at_once_on_one_token_file_share_one_identity()
    {
        var identities = new TargetIdentity[6];
        using var start = new Barrier(identities.Length);
        var threads = Enumerable.Range(0, identities.Length).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            identities[i] = TargetIdentity.LoadOrCreate(TokenFile, null, null, TimeProvider.System);
        })).ToList();

        threads.ForEach(thread => thread.Start());
        threads.ForEach(thread => thread.Join());

        try
        {
            var file = CredentialFile.Parse(File.ReadAllText(TokenFile), TokenFile);
            Assert.All(identities, identity =>
            {
                Assert.Equal(file.Token, identity.Token);
                Assert.Equal(file.Targets, [CertificateFingerprint.Of(identity.Certificate)]);
                Assert.Equal(identities[0].OperatorSecret, identity.OperatorSecret);
            });
        }
        finally
        {
            Array.ForEach(identities, identity => identity?.Dispose());
        }
    }

    [Fact]
    public void A_later_start_loads_what_the_first_made()
    {
        using var first = TargetIdentity.LoadOrCreate(TokenFile, null, null, TimeProvider.System);
        using var second = TargetIdentity.LoadOrCreate(TokenFile, null, null, TimeProvider.System);

        Assert.Equal(first.Token, second.Token);
        Assert.Equal(first.Certificate.RawData, second.Certificate.RawData);
        Assert.Equal(first.OperatorSecret, second.OperatorSecret);
    }

    [Theory]
    [InlineData("")]
    [InlineData(".key")]
    [InlineData(".operator")]
    public void A_start_refuses_any_of_its_files_once_others_may_read_it(string suffix)
    {
        TargetIdentity.LoadOrCreate(TokenFile, null, null, TimeProvider.System).Dispose();
        File.SetUnixFileMode(TokenFile + suffix, Private | UnixFileMode.OtherRead);

        var e = Assert.Throws<CredentialException>(() => TargetIdentity.LoadOrCreate(TokenFile, null, null, TimeProvider.System));

        Assert.Contains($"{TokenFile + suffix} is open to others", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_token_only_file_of_the_old_format_is_refused_and_kept()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(TokenFile)!);
        File.WriteAllText(TokenFile, new string('7', 64) + "\n");
        File.SetUnixFileMode(TokenFile, Private);

        var e = Assert.Throws<CredentialException>(() => TargetIdentity.LoadOrCreate(TokenFile, null, null, TimeProvider.System));

        Assert.Contains("holds only a token", e.Message, StringComparison.Ordinal);
        Assert.Equal(new string('7', 64) + "\n", File.ReadAllText(TokenFile));
    }

    [Fact]
    public void A_token_file_that_names_another_agents_certificate_is_refused_with_what_to_do()
    {
        TargetIdentity.LoadOrCreate(TokenFile, null, null, TimeProvider.System).Dispose();
        File.Delete(TokenFile + ".key");

        var e = Assert.Throws<CredentialException>(() => TargetIdentity.LoadOrCreate(TokenFile, null, null, TimeProvider.System));

        Assert.Contains("does not name this agent's certificate", e.Message, StringComparison.Ordinal);
        Assert.Contains("target-sha256 ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_operators_certificate_is_presented_instead_and_no_key_of_its_own_is_made()
    {
        using var authority = TestCertificates.Authority("fleet CA");
        using var issued = TestCertificates.Issue(authority, "target", CertificateUse.Server);
        TestCertificates.WritePem(issued, _directory.Combine("target.crt"), _directory.Combine("target.pem"));

        using var identity = TargetIdentity.LoadOrCreate(TokenFile, _directory.Combine("target.crt"), _directory.Combine("target.pem"), TimeProvider.System);

        Assert.Equal(issued.RawData, identity.Certificate.RawData);
        Assert.True(identity.Certificate.HasPrivateKey);
        Assert.False(File.Exists(TokenFile + ".key"));
    }

    [Fact]
    public void An_operators_key_file_open_to_others_is_refused()
    {
        using var authority = TestCertificates.Authority("fleet CA");
        using var issued = TestCertificates.Issue(authority, "target", CertificateUse.Server);
        TestCertificates.WritePem(issued, _directory.Combine("target.crt"), _directory.Combine("target.pem"));
        File.SetUnixFileMode(_directory.Combine("target.pem"), Private | UnixFileMode.GroupRead);

        var e = Assert.Throws<CredentialException>(() =>
            TargetIdentity.LoadOrCreate(TokenFile, _directory.Combine("target.crt"), _directory.Combine("target.pem"), TimeProvider.System));

        Assert.Contains("the key file", e.Message, StringComparison.Ordinal);
        Assert.Contains("chmod 600", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(TokenFile));
    }

    public void Dispose() => _directory.Dispose();
}
