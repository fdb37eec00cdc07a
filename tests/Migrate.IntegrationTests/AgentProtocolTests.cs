using Grpc.Core;
using Grpc.Net.Client;
using Migrate.Engine.Credentials;
using Migrate.Engine.Protocol;
using Migrate.IntegrationTests.Infrastructure;
using Migrate.Protocol;

namespace Migrate.IntegrationTests;

/// <summary>
/// A real migrate-target faced with peers that do not follow the protocol,
/// or that hold the token but not a session's secret: each gets a status
/// that says why, and nothing is left behind.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class AgentProtocolTests : IAsyncLifetime
{
    private TargetAgent _target = null!;
    private GrpcChannel _channel = null!;
    private MigrationTarget.MigrationTargetClient _client = null!;
    private string _token = null!;

    public async Task InitializeAsync()
    {
        _target = await TargetAgent.StartAsync();
        var credentials = _target.Credentials();
        _channel = TlsChannels.To(_target.Address, credentials.Trust);
        _client = new MigrationTarget.MigrationTargetClient(_channel);
        _token = credentials.Token;
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _target.DisposeAsync();
    }

    [Fact]
    public async Task Every_call_without_the_token_is_unauthenticated()
    {
        var (session, secret) = await OpenSessionAsync();
        var wrong = new Metadata { { "authorization", "Bearer " + new string('f', 64) }, { WireProtocol.SessionSecretHeader, secret } };
        var none = new Metadata { { WireProtocol.SessionSecretHeader, secret } };

        foreach (var (rpc, call) in Calls(session).Prepend(("Handshake", headers => _client.HandshakeAsync(Hello(), headers).ResponseAsync)))
        {
            foreach (var headers in new[] { wrong, none })
            {
                var e = await Assert.ThrowsAsync<RpcException>(() => call(headers));
                Assert.True(e.StatusCode == StatusCode.Unauthenticated, $"{rpc}: {e.Status}");
            }
        }
        await AssertStillOpenAsync(session, secret);
    }

    [Fact]
    public async Task Every_call_for_a_session_without_its_secret_is_denied_and_changes_nothing()
    {
        var (session, secret) = await OpenSessionAsync();
        var (_, another) = await OpenSessionAsync();

        foreach (var (rpc, call) in Calls(session))
        {
            foreach (var (presented, headers) in new[] { ("another session's secret", Auth(another)), ("no secret", Auth(null)) })
            {
                var e = await Assert.ThrowsAsync<RpcException>(() => call(headers));
                Assert.True(e.StatusCode == StatusCode.PermissionDenied, $"{rpc} with {presented}: {e.Status}");
                Assert.Contains("belongs to the source that opened it", e.Status.Detail, StringComparison.Ordinal);
            }
        }
        await AssertStillOpenAsync(session, secret);
        Assert.DoesNotContain(secret, _target.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(another, _target.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_abort_by_hand_takes_the_targets_operator_file_and_a_token_alone_is_not_enough()
    {
        var (session, secret) = await OpenSessionAsync();
        using var source = new TempDirectory("source");
        // What a source host holds: a copy of the token file, and nothing beside it.
        var copied = source.Combine("token");
        File.Copy(_target.TokenFile, copied);
        var stranger = source.Combine("stranger.operator");
        await File.WriteAllTextAsync(stranger, OperatorFile.New().Format());
        File.SetUnixFileMode(stranger, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var tokenOnly = await MigrateCli.RunRawAsync(null, "abort", "--to", _target.Address, "--token-file", copied, "--session", session);
        var wrongOperator = await MigrateCli.RunRawAsync(null, "abort", "--to", _target.Address, "--token-file", copied, "--operator-file", stranger, "--session", session);
        await AssertStillOpenAsync(session, secret);
        // On the target host the defaults find its token file and, beside it, its operator file.
        var onTheTarget = await MigrateCli.RunRawAsync(null, "abort", "--to", _target.Address, "--token-file", _target.TokenFile, "--session", session);

        Assert.True(tokenOnly.ExitCode == 2, tokenOnly.ToString());
        Assert.Contains("settling it by hand takes the target's operator file", tokenOnly.Stderr, StringComparison.Ordinal);
        Assert.True(wrongOperator.ExitCode == 1, wrongOperator.ToString());
        Assert.Contains("belongs to the source that opened it", wrongOperator.Stderr, StringComparison.Ordinal);
        Assert.True(onTheTarget.ExitCode == 0, onTheTarget.ToString());
        Assert.Contains($"session {session} aborted", onTheTarget.Stdout, StringComparison.Ordinal);
        var gone = await Assert.ThrowsAsync<RpcException>(() =>
            _client.RestoreAsync(new RestoreRequest { SessionId = session, Set = "final" }, Auth(secret)).ResponseAsync);
        Assert.Contains("Aborted", gone.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_operator_secret_commits_or_aborts_any_session_and_does_nothing_else()
    {
        var (session, secret) = await OpenSessionAsync();
        var operatorSecret = OperatorFile.Parse(await File.ReadAllTextAsync(_target.OperatorFile), _target.OperatorFile).Secret;

        foreach (var (rpc, call) in Calls(session).Where(call => call.Rpc is not ("Commit" or "Abort")))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => call(Auth(operatorSecret)));
            Assert.True(e.StatusCode == StatusCode.PermissionDenied, $"{rpc} with the operator's secret: {e.Status}");
        }
        // Past the check: a session that restored nothing cannot commit.
        var commit = await Assert.ThrowsAsync<RpcException>(() => _client.CommitAsync(new CommitRequest { SessionId = session }, Auth(operatorSecret)).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, commit.StatusCode);
        await _client.AbortAsync(new AbortRequest { SessionId = session, Reason = "operator" }, Auth(operatorSecret));
        var gone = await Assert.ThrowsAsync<RpcException>(() =>
            _client.RestoreAsync(new RestoreRequest { SessionId = session, Set = "final" }, Auth(secret)).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, gone.StatusCode);
        Assert.Contains("Aborted", gone.Status.Detail, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_source_of_another_protocol_is_refused_with_both_versions_named()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => _client.HandshakeAsync(
            new HandshakeRequest { ProtocolVersion = 99, Source = new HostFacts { MigrateVersion = "9.9.9+git1.abc" } }, Auth(null)).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Matches($@"^this target speaks protocol {WireProtocol.Version} \(migrate 0\.\d+\.\d+\+git\d+\.[0-9a-f]{{12}}(\.dirty)?\), the source protocol 99 \(migrate 9\.9\.9\+git1\.abc\): install the same migrate version on both hosts$", e.Status.Detail);
    }

    [Fact]
    public async Task A_path_traversal_is_refused_as_invalid_and_writes_nothing()
    {
        var (session, secret) = await OpenSessionAsync();

        var e = await SendAsync(session, secret,
            Chunk("../../escaped.img", TestData(100)),
            End(("../../escaped.img", 100)));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("file name", e.Status.Detail, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_target.WorkDirectory, "escaped.img")));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(_target.WorkDirectory)!, "escaped.img")));
    }

    [Fact]
    public async Task A_stream_cut_before_its_manifest_is_refused_as_data_loss()
    {
        var (session, secret) = await OpenSessionAsync();

        var e = await SendAsync(session, secret, Chunk("pages-1.img", TestData(4096)));

        Assert.Equal(StatusCode.DataLoss, e.StatusCode);
        Assert.False(Directory.Exists(Path.Combine(_target.WorkDirectory, session, "images", "final")));
    }

    [Fact]
    public async Task A_corrupt_chunk_is_refused_as_data_loss()
    {
        var (session, secret) = await OpenSessionAsync();
        var chunk = Chunk("pages-1.img", TestData(4096));
        chunk.Chunk.Frame.Checksum++;

        var e = await SendAsync(session, secret, chunk, End(("pages-1.img", 4096)));

        Assert.Equal(StatusCode.DataLoss, e.StatusCode);
    }

    [Fact]
    public async Task An_oversize_chunk_is_refused_as_resource_exhausted()
    {
        var (session, secret) = await OpenSessionAsync();
        var size = (1 << 20) + 1;

        var e = await SendAsync(session, secret, Chunk("pages-1.img", TestData(size)), End(("pages-1.img", size)));

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }

    [Fact]
    public async Task Restoring_a_set_that_never_arrived_is_refused()
    {
        var (session, secret) = await OpenSessionAsync();

        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _client.RestoreAsync(new RestoreRequest { SessionId = session, Set = "final" }, Auth(secret)).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
    }

    [Fact]
    public async Task An_unknown_session_is_not_found()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _client.CommitAsync(new CommitRequest { SessionId = "0123" }, Auth(null)).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }

    [Fact]
    public async Task Preflight_fails_a_fifo_and_a_device_at_once_without_opening_them()
    {
        using var directory = new TempDirectory("preflight");
        var fifo = directory.Combine("fifo");
        var device = directory.Combine("zero");
        Assert.Equal(0, (await ChildProcess.RunAsync("mkfifo", [fifo], TimeSpan.FromSeconds(30))).ExitCode);
        Assert.Equal(0, (await ChildProcess.RunAsync("mknod", [device, "c", "1", "5"], TimeSpan.FromSeconds(30))).ExitCode);
        // Their size and time match what the source sends: only the refusal to open them stands before the hash.
        var when = new DateTime(2021, 3, 4, 5, 6, 7, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(fifo, when);
        File.SetLastWriteTimeUtc(device, when);
        var (session, secret) = await OpenSessionAsync();

        var checks = new List<Migrate.Protocol.CheckResult>();
        foreach (var path in new[] { fifo, device })
        {
            var request = new PreflightRequest { SessionId = session };
            // Hashed like an executable: the target would have to read it.
            request.Files.Add(new FileFact
            {
                Path = path,
                MtimeNs = (when - DateTime.UnixEpoch).Ticks * 100,
                ContentHash = Google.Protobuf.ByteString.CopyFrom(new byte[16]),
            });
            var reply = await _client.PreflightAsync(request, Auth(secret), deadline: DateTime.UtcNow.AddSeconds(60));
            checks.Add(reply.Checks.Single(check => check.Name == "files"));
        }

        Assert.All(checks, check => Assert.Equal(Migrate.Protocol.CheckResult.Types.Verdict.Fail, check.Verdict));
        Assert.Equal($"{fifo} is not a regular file on the target", checks[0].Detail);
        Assert.Equal($"{device} is not a regular file on the target", checks[1].Detail);
    }

    [Fact]
    public async Task No_more_sessions_open_than_the_agent_allows()
    {
        await using var target = await TargetAgent.StartAsync(arguments: ["--max-sessions", "2"]);
        var credentials = target.Credentials();
        using var channel = TlsChannels.To(target.Address, credentials.Trust);
        var client = new MigrationTarget.MigrationTargetClient(channel);
        var auth = new Metadata { { "authorization", "Bearer " + credentials.Token } };
        var first = await client.HandshakeAsync(Hello(), auth);
        await client.HandshakeAsync(Hello(), auth);

        var e = await Assert.ThrowsAsync<RpcException>(() => client.HandshakeAsync(Hello(), auth).ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        auth.Add(WireProtocol.SessionSecretHeader, first.SessionSecret);
        await client.AbortAsync(new AbortRequest { SessionId = first.SessionId, Reason = "test" }, auth);
        await client.HandshakeAsync(Hello(), auth);
    }

    private static HandshakeRequest Hello() => new() { ProtocolVersion = WireProtocol.Version, Source = new HostFacts() };

    private async Task<(string Session, string Secret)> OpenSessionAsync()
    {
        var reply = await _client.HandshakeAsync(Hello(), Auth(null));
        return (reply.SessionId, reply.SessionSecret);
    }

    /// <summary>The token, and a session secret if given.</summary>
    private Metadata Auth(string? secret)
    {
        var headers = new Metadata { { "authorization", "Bearer " + _token } };
        if (secret is not null)
        {
            headers.Add(WireProtocol.SessionSecretHeader, secret);
        }
        return headers;
    }

    /// <summary>Every call for a session after the handshake, each as a source would open it.</summary>
    private IEnumerable<(string Rpc, Func<Metadata, Task> Call)> Calls(string session) =>
    [
        ("Preflight", headers => _client.PreflightAsync(new PreflightRequest { SessionId = session }, headers).ResponseAsync),
        ("SendPages", headers => StreamAsync(_client.SendPages(headers), new PageStreamMessage { Begin = new PageStreamBegin { SessionId = session, Round = 1 } })),
        ("SendImages", headers => StreamAsync(_client.SendImages(headers), new ImageStreamMessage { Begin = new ImageSetBegin { SessionId = session, Set = "final" } })),
        ("Restore", headers => _client.RestoreAsync(new RestoreRequest { SessionId = session, Set = "final" }, headers).ResponseAsync),
        ("Commit", headers => _client.CommitAsync(new CommitRequest { SessionId = session }, headers).ResponseAsync),
        ("Abort", headers => _client.AbortAsync(new AbortRequest { SessionId = session, Reason = "hijack" }, headers).ResponseAsync),
        ("AwaitPages", headers => _client.AwaitPagesAsync(new AwaitPagesRequest { SessionId = session }, headers).ResponseAsync),
    ];

    private static async Task StreamAsync<TRequest, TResponse>(AsyncClientStreamingCall<TRequest, TResponse> call, TRequest begin)
    {
        using (call)
        {
            try
            {
                await call.RequestStream.WriteAsync(begin);
                await call.RequestStream.CompleteAsync();
            }
            catch (RpcException)
            {
                // The target may end the call before it reads the stream; a write
                // then fails locally (often as Cancelled). Its verdict is the response's.
            }
            await call.ResponseAsync;
        }
    }

    /// <summary>The session is still open, and nothing arrived in it: its own secret restores nothing yet.</summary>
    private async Task AssertStillOpenAsync(string session, string secret)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _client.RestoreAsync(new RestoreRequest { SessionId = session, Set = "final" }, Auth(secret)).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("has not been received", e.Status.Detail, StringComparison.Ordinal);
    }

    private async Task<RpcException> SendAsync(string session, string secret, params ImageStreamMessage[] messages)
    {
        using var stream = _client.SendImages(Auth(secret));
        return await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await stream.RequestStream.WriteAsync(new ImageStreamMessage { Begin = new ImageSetBegin { SessionId = session, Set = "final" } });
            foreach (var message in messages)
            {
                await stream.RequestStream.WriteAsync(message);
            }
            await stream.RequestStream.CompleteAsync();
            await stream.ResponseAsync;
        });
    }

    private static byte[] TestData(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    private static ImageStreamMessage Chunk(string file, byte[] data) =>
        new() { Chunk = new ImageChunk { File = file, Offset = 0, Frame = FrameCodec.Encode(data).Frame } };

    private static ImageStreamMessage End(params (string Name, int Size)[] files)
    {
        var end = new ImageSetEnd { TotalBytes = (ulong)files.Sum(file => file.Size) };
        end.Files.AddRange(files.Select(file => new ImageFile { Name = file.Name, Size = (ulong)file.Size }));
        return new ImageStreamMessage { End = end };
    }
}
