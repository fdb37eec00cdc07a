using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Health.V1;
using Migrate.Engine.Credentials;
using Migrate.Engine.Criu;
using Migrate.Engine.Protocol;
using Migrate.IntegrationTests.Infrastructure;
using Migrate.Protocol;
using Migrate.Tests.Shared;

namespace Migrate.IntegrationTests;

/// <summary>
/// The transport between real agents: TLS 1.3 only, a source that
/// recognises its target before it sends the token, an operator's own CA
/// and client certificates, private key files, and a server that drops
/// silent peers and bounds its connections.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class TransportSecurityTests(Workloads workloads) : IDisposable
{
    private readonly TempDirectory _files = new("tls");

    [Fact]
    public async Task A_plaintext_client_gets_no_answer()
    {
        await using var target = await TargetAgent.StartAsync();

        using var channel = TlsChannels.Plaintext(target.Address);
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            new MigrationTarget.MigrationTargetClient(channel).HandshakeAsync(new HandshakeRequest { ProtocolVersion = WireProtocol.Version }).ResponseAsync);
        Assert.True(e.StatusCode is StatusCode.Unavailable or StatusCode.Internal, e.Status.ToString());
        // The health service shares the listener, and so its TLS.
        var health = await Assert.ThrowsAsync<RpcException>(() =>
            new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(30)).ResponseAsync);
        Assert.True(health.StatusCode is StatusCode.Unavailable or StatusCode.Internal, health.Status.ToString());

        // By hand: the HTTP/2 preface in cleartext. An HTTP/2 server would answer with
        // a SETTINGS frame; a TLS server can only refuse, with an alert record or none.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, target.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0"u8.ToArray());
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var answer = new MemoryStream();
        await stream.CopyToAsync(answer, reading.Token);
        Assert.True(answer.Length == 0 || answer.GetBuffer()[0] == 0x15, $"a cleartext peer got {Convert.ToHexString(answer.ToArray())}");
    }

    [Fact]
    public async Task Tls_older_than_1_3_is_refused()
    {
        await using var target = await TargetAgent.StartAsync();
        var trust = target.Credentials().Trust;
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, target.Port);
        await using var tls = new SslStream(tcp.GetStream());

        var e = await Assert.ThrowsAsync<AuthenticationException>(() => tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            EnabledSslProtocols = SslProtocols.Tls12,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) => trust.Refusal(certificate as X509Certificate2, chain, errors) is null,
        }));
        Assert.DoesNotContain("RemoteCertificateValidationCallback", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_source_sends_nothing_to_a_target_whose_certificate_the_token_file_does_not_name()
    {
        using var impostor = TestCertificates.SelfSigned("migrate-target");
        using var expected = TestCertificates.SelfSigned("migrate-target");
        await using var fake = await FakeTarget.StartAsync(impostor, SessionIds.NewId());
        var token = CredentialFile.NewToken();

        using (var agent = new GrpcTargetAgent(TargetAddress.Parse(fake.Address),
            new TargetCredentials(token, TargetTrust.Pinned([CertificateFingerprint.Of(expected)], "token"))))
        {
            var e = await Assert.ThrowsAsync<TargetException>(() => agent.HandshakeAsync(SourceFacts(), CancellationToken.None));
            Assert.Equal(TargetFailure.Untrusted, e.Failure);
            Assert.Contains(CertificateFingerprint.Of(impostor).ToString(), e.Message, StringComparison.Ordinal);
        }
        Assert.Empty(fake.Requests);

        // The same source, pinning the fake's certificate: the recorder sees the token arrive.
        using (var agent = new GrpcTargetAgent(TargetAddress.Parse(fake.Address), new TargetCredentials(token, TargetTrust.Pinned([fake.Fingerprint], "token"))))
        {
            await agent.HandshakeAsync(SourceFacts(), CancellationToken.None);
        }
        var arrived = Assert.Single(fake.Requests);
        Assert.Equal("Bearer " + token, arrived.Authorization);
    }

    [Fact]
    public async Task Migrate_refuses_an_unrecognised_target_with_exit_3_and_leaves_the_process_running()
    {
        using var impostor = TestCertificates.SelfSigned("migrate-target");
        using var expected = TestCertificates.SelfSigned("migrate-target");
        await using var fake = await FakeTarget.StartAsync(impostor, SessionIds.NewId());
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);
        var tokenFile = TokenFiles.Write(_files.Combine("token"), CredentialFile.NewToken(), CertificateFingerprint.Of(expected));

        var result = await MigrateCli.RunAsync("--to", fake.Address, "--token-file", tokenFile, "--work-dir", _files.Combine("work"), counter.Pid.ToString());

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("during the TLS handshake, before sending it anything", result.Stdout, StringComparison.Ordinal);
        Assert.Empty(fake.Requests);
        Assert.True(ProcFs.IsRunning(counter.Pid));
        await counter.WaitForProgressAsync();
    }

    [Fact]
    public async Task Agents_started_at_once_on_one_missing_token_file_share_one_identity()
    {
        var tokenFile = _files.Combine("shared", "token");
        var agents = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => TargetAgent.StartAsync(tokenFile: tokenFile)));
        try
        {
            var credentials = agents[0].Credentials();
            foreach (var agent in agents)
            {
                using var channel = TlsChannels.To(agent.Address, credentials.Trust);
                var reply = await new MigrationTarget.MigrationTargetClient(channel).HandshakeAsync(
                    new HandshakeRequest { ProtocolVersion = WireProtocol.Version, Source = new Protocol.HostFacts() },
                    new Metadata { { "authorization", "Bearer " + credentials.Token } });
                Assert.True(SessionIds.IsValid(reply.SessionId));
            }
            Assert.Equal(["token", "token.key", "token.operator"], Directory.GetFiles(_files.Combine("shared")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }
        finally
        {
            foreach (var agent in agents)
            {
                await agent.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task With_ca_a_source_recognises_a_target_by_its_ca_and_address_instead_of_a_fingerprint()
    {
        using var authority = TestCertificates.Authority("fleet CA");
        using var server = TestCertificates.Issue(authority, "target", CertificateUse.Server, IPAddress.Loopback);
        TestCertificates.WritePem(authority, _files.Combine("ca.pem"));
        TestCertificates.WritePem(server, _files.Combine("server.crt"), _files.Combine("server.key"));
        await using var target = await TargetAgent.StartAsync(arguments: ["--cert", _files.Combine("server.crt"), "--key", _files.Combine("server.key")]);
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);
        // The token only: nothing here names the target's certificate.
        var tokenOnly = TokenFiles.Write(_files.Combine("token"), target.Credentials().Token);

        var withoutCa = await Check(target, tokenOnly, counter);
        var withCa = await Check(target, tokenOnly, counter, "--ca", _files.Combine("ca.pem"));

        Assert.True(withoutCa.ExitCode == 2, withoutCa.ToString());
        Assert.Contains("names no target certificate", withoutCa.Stderr, StringComparison.Ordinal);
        Assert.True(withCa.ExitCode == 0, withCa.ToString());
    }

    [Fact]
    public async Task With_ca_a_certificate_from_another_ca_or_for_another_address_is_refused()
    {
        using var authority = TestCertificates.Authority("fleet CA");
        using var stranger = TestCertificates.Authority("fleet CA");
        using var foreign = TestCertificates.Issue(stranger, "target", CertificateUse.Server, IPAddress.Loopback);
        using var elsewhere = TestCertificates.Issue(authority, "target", CertificateUse.Server, IPAddress.Parse("127.0.0.2"));
        TestCertificates.WritePem(authority, _files.Combine("ca.pem"));
        TestCertificates.WritePem(foreign, _files.Combine("foreign.crt"), _files.Combine("foreign.key"));
        TestCertificates.WritePem(elsewhere, _files.Combine("elsewhere.crt"), _files.Combine("elsewhere.key"));
        await using var foreignTarget = await TargetAgent.StartAsync(arguments: ["--cert", _files.Combine("foreign.crt"), "--key", _files.Combine("foreign.key")]);
        await using var elsewhereTarget = await TargetAgent.StartAsync(arguments: ["--cert", _files.Combine("elsewhere.crt"), "--key", _files.Combine("elsewhere.key")]);
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);

        var signedByAnother = await Check(foreignTarget, foreignTarget.TokenFile, counter, "--ca", _files.Combine("ca.pem"));
        var forAnotherAddress = await Check(elsewhereTarget, elsewhereTarget.TokenFile, counter, "--ca", _files.Combine("ca.pem"));

        Assert.True(signedByAnother.ExitCode == 3, signedByAnother.ToString());
        Assert.Contains("is not signed for a server by a CA in", signedByAnother.Stdout, StringComparison.Ordinal);
        Assert.True(forAnotherAddress.ExitCode == 3, forAnotherAddress.ToString());
        Assert.Contains("not issued for the host name or address in --to", forAnotherAddress.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_client_ca_the_target_serves_only_sources_that_present_a_certificate_its_ca_signed()
    {
        using var authority = TestCertificates.Authority("sources CA");
        using var stranger = TestCertificates.Authority("sources CA");
        using var member = TestCertificates.Issue(authority, "source", CertificateUse.Client);
        using var outsider = TestCertificates.Issue(stranger, "source", CertificateUse.Client);
        TestCertificates.WritePem(authority, _files.Combine("sources-ca.pem"));
        TestCertificates.WritePem(member, _files.Combine("member.crt"), _files.Combine("member.key"));
        TestCertificates.WritePem(outsider, _files.Combine("outsider.crt"), _files.Combine("outsider.key"));
        await using var target = await TargetAgent.StartAsync(arguments: ["--client-ca", _files.Combine("sources-ca.pem")]);
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);

        var withMember = await Check(target, target.TokenFile, counter, "--cert", _files.Combine("member.crt"), "--key", _files.Combine("member.key"));
        var withOutsider = await Check(target, target.TokenFile, counter, "--cert", _files.Combine("outsider.crt"), "--key", _files.Combine("outsider.key"));
        var withNone = await Check(target, target.TokenFile, counter);

        Assert.True(withMember.ExitCode == 0, withMember.ToString());
        Assert.True(withOutsider.ExitCode == 3, withOutsider.ToString());
        Assert.True(withNone.ExitCode == 3, withNone.ToString());
        Assert.Contains("present one its CA signed with --cert", withNone.Stdout, StringComparison.Ordinal);
        Assert.Contains("Refused a client at the TLS handshake", target.Output, StringComparison.Ordinal);
        // Only the member got as far as a session.
        Assert.Single(Regex.Matches(target.Output, "Session [0-9a-f]{32} opened by"));
    }

    [Fact]
    public async Task A_key_file_open_to_others_is_refused_by_either_agent()
    {
        using var authority = TestCertificates.Authority("fleet CA");
        using var certificate = TestCertificates.Issue(authority, "host", CertificateUse.Server, IPAddress.Loopback);
        TestCertificates.WritePem(certificate, _files.Combine("host.crt"), _files.Combine("host.key"));
        File.SetUnixFileMode(_files.Combine("host.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var target = await RunTargetAsync(_files.Combine("target-token"), "--cert", _files.Combine("host.crt"), "--key", _files.Combine("host.key"));
        var source = await MigrateCli.RunRawAsync(null, "check", "--to", "127.0.0.1:1", "--token-file", TokenFiles.WriteUnused(_files.Combine("token")),
            "--cert", _files.Combine("host.crt"), "--key", _files.Combine("host.key"), "1");

        Assert.True(target.ExitCode == 2, target.ToString());
        Assert.Contains($"the key file {_files.Combine("host.key")} is open to others (mode 604)", target.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(_files.Combine("target-token")));
        Assert.True(source.ExitCode == 2, source.ToString());
        Assert.Contains("chmod 600", source.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_agent_refuses_its_own_key_once_others_may_read_it()
    {
        var tokenFile = _files.Combine("token");
        await (await TargetAgent.StartAsync(tokenFile: tokenFile)).DisposeAsync();
        File.SetUnixFileMode(tokenFile + ".key", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var restart = await RunTargetAsync(tokenFile);

        Assert.True(restart.ExitCode == 2, restart.ToString());
        Assert.Contains($"the key file {tokenFile}.key is open to others", restart.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_file_of_the_old_format_gets_a_clear_error_on_both_hosts()
    {
        var old = _files.Combine("token");
        await File.WriteAllTextAsync(old, new string('0', 64) + "\n");
        File.SetUnixFileMode(old, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var target = await RunTargetAsync(old);
        var source = await MigrateCli.RunRawAsync(null, "check", "--to", "127.0.0.1:1", "--token-file", old, "1");

        foreach (var outcome in new[] { (target.ExitCode, target.Stderr), (source.ExitCode, source.Stderr) })
        {
            Assert.True(outcome.ExitCode == 2, $"{target}\n{source}");
            Assert.Contains("holds only a token", outcome.Stderr, StringComparison.Ordinal);
            Assert.Contains("start migrate-target again", outcome.Stderr, StringComparison.Ordinal);
        }
        Assert.Equal(new string('0', 64) + "\n", await File.ReadAllTextAsync(old));
    }

    [Fact]
    public async Task The_target_pings_a_silent_connection_and_drops_it_when_the_ping_goes_unanswered()
    {
        await using var target = await TargetAgent.StartAsync();
        await using var connection = await Http2Connection.OpenAsync(target.Port, target.Credentials().Trust);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(90));

        var pinged = false;
        Http2Frame? frame;
        while ((frame = await connection.ReadAsync(patience.Token)) is not null && frame.Type != Http2Frame.GoAway)
        {
            if (frame is { Type: Http2Frame.Settings, Flags: 0 })
            {
                await connection.WriteAsync(new Http2Frame(Http2Frame.Settings, Http2Frame.Ack, 0, []));
            }
            pinged |= frame is { Type: Http2Frame.Ping, Flags: 0 };
        }

        // Kestrel's idle-connection timeout is 130 s: only the unanswered ping ends it this soon.
        Assert.False(patience.IsCancellationRequested, "the target kept a silent connection open for 90 s");
        Assert.True(pinged, "the target closed the connection without pinging it first");
    }

    [Fact]
    public async Task The_target_bounds_its_connections()
    {
        await using var target = await TargetAgent.StartAsync(arguments: ["--max-connections", "2"]);
        var trust = target.Credentials().Trust;
        var first = await Http2Connection.OpenAsync(target.Port, trust);
        await using var second = await Http2Connection.OpenAsync(target.Port, trust);
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.NotNull(await second.ReadAsync(reading.Token));

        await Assert.ThrowsAnyAsync<Exception>(async () => await (await Http2Connection.OpenAsync(target.Port, trust)).DisposeAsync());

        await first.DisposeAsync();
        await Eventually.WaitAsync(() => TryOpen(target.Port, trust), "a connection once one closed");
    }

    public void Dispose() => _files.Dispose();

    private static bool TryOpen(int port, TargetTrust trust)
    {
        try
        {
            Http2Connection.OpenAsync(port, trust).GetAwaiter().GetResult().DisposeAsync().AsTask().GetAwaiter().GetResult();
            return true;
        }
        catch (Exception e) when (e is IOException or AuthenticationException or SocketException)
        {
            return false;
        }
    }

    private static Task<MigrateResult> Check(TargetAgent target, string tokenFile, Counter counter, params string[] options) =>
        MigrateCli.RunRawAsync(null, ["check", "--to", target.Address, "--token-file", tokenFile, .. options, counter.Pid.ToString()]);

    private Task<ProcessOutcome> RunTargetAsync(string tokenFile, params string[] options) =>
        ChildProcess.RunAsync(Repository.MigrateTarget,
            ["--listen", "127.0.0.1:0", "--work-dir", _files.Combine("work"), "--token-file", tokenFile, .. options], TimeSpan.FromMinutes(1));

    private static Engine.Compat.HostFacts SourceFacts() => new()
    {
        Hostname = "source",
        KernelRelease = "",
        CriuVersion = "",
        Architecture = "",
        CriuFeatures = new CriuFeatureSet(false, false),
        CpuinfoImage = ReadOnlyMemory<byte>.Empty,
        Vdso = Engine.Compat.VdsoLayout.Empty,
    };
}
