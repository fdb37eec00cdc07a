using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Migrate.Engine.Credentials;
using Migrate.Tests.Shared;

namespace Migrate.Engine.Tests.Credentials;

public sealed class TargetTrustTests
{
    [Fact]
    public void A_pinned_target_is_recognised_by_its_fingerprint_alone()
    {
        using var agent = TestCertificates.SelfSigned("migrate-target");
        var trust = TargetTrust.Pinned([CertificateFingerprint.Of(agent)], "/etc/migrate/token");

        // A self-signed certificate never chains and names no host: the stack's errors do not count.
        Assert.Null(trust.Refusal(agent, null, SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch));
    }

    [Fact]
    public void Another_certificate_is_refused_with_its_fingerprint_and_the_file()
    {
        using var agent = TestCertificates.SelfSigned("migrate-target");
        using var stranger = TestCertificates.SelfSigned("migrate-target");
        var trust = TargetTrust.Pinned([CertificateFingerprint.Of(agent)], "/etc/migrate/token");

        var refusal = trust.Refusal(stranger, null, SslPolicyErrors.None);

        Assert.NotNull(refusal);
        Assert.Contains(CertificateFingerprint.Of(stranger).ToString(), refusal, StringComparison.Ordinal);
        Assert.Contains("/etc/migrate/token", refusal, StringComparison.Ordinal);
        Assert.NotNull(trust.Refusal(null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
    }

    [Fact]
    public void A_ca_signed_server_certificate_for_the_host_is_recognised()
    {
        using var authority = TestCertificates.Authority("fleet CA");
        using var server = TestCertificates.Issue(authority, "target", CertificateUse.Server, IPAddress.Loopback);
        var trust = TargetTrust.SignedBy(new CertificateAuthority([authority], "/etc/fleet/ca.pem"));

        // The stack reports a chain error: the fleet's CA is not among the system's roots.
        Assert.Null(trust.Refusal(server, null, SslPolicyErrors.RemoteCertificateChainErrors));
    }

    [Fact]
    public void A_certificate_from_another_ca_is_refused()
    {
        using var authority = TestCertificates.Authority("fleet CA");
        using var other = TestCertificates.Authority("fleet CA");
        using var server = TestCertificates.Issue(other, "target", CertificateUse.Server, IPAddress.Loopback);
        var trust = TargetTrust.SignedBy(new CertificateAuthority([authority], "/etc/fleet/ca.pem"));

        var refusal = trust.Refusal(server, null, SslPolicyErrors.RemoteCertificateChainErrors);

        Assert.NotNull(refusal);
        Assert.Contains("/etc/fleet/ca.pem", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_ca_signed_certificate_for_another_host_is_refused()
    {
        using var authority = TestCertificates.Authority("fleet CA");
        using var server = TestCertificates.Issue(authority, "target", CertificateUse.Server, IPAddress.Parse("192.0.2.7"));
        var trust = TargetTrust.SignedBy(new CertificateAuthority([authority], "/etc/fleet/ca.pem"));

        var refusal = trust.Refusal(server, null, SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors);

        Assert.NotNull(refusal);
        Assert.Contains("not issued for the host", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_client_certificate_is_no_server_certificate_and_the_reverse()
    {
        using var authority = TestCertificates.Authority("fleet CA");
        using var client = TestCertificates.Issue(authority, "source", CertificateUse.Client);
        using var server = TestCertificates.Issue(authority, "target", CertificateUse.Server);
        var fleet = new CertificateAuthority([authority], "/etc/fleet/ca.pem");

        Assert.NotNull(fleet.Refusal(client, null, CertificateUse.Server));
        Assert.NotNull(fleet.Refusal(server, null, CertificateUse.Client));
        Assert.Null(fleet.Refusal(client, null, CertificateUse.Client));
    }

    [Fact]
    public void The_chain_the_stack_built_lends_its_intermediates()
    {
        using var root = TestCertificates.Authority("fleet root");
        using var intermediate = TestCertificates.Authority("fleet issuing CA", signedBy: root);
        using var server = TestCertificates.Issue(intermediate, "target", CertificateUse.Server);
        var fleet = new CertificateAuthority([root], "/etc/fleet/ca.pem");
        using var presented = new X509Chain();
        presented.ChainPolicy.ExtraStore.Add(intermediate);

        Assert.NotNull(fleet.Refusal(server, null, CertificateUse.Server));
        Assert.Null(fleet.Refusal(server, presented, CertificateUse.Server));
    }
}
