using Grpc.Core;
using Grpc.Net.Client;
using Migrate.Engine.Protocol;
using Migrate.IntegrationTests.Infrastructure;
using Migrate.Protocol;

namespace Migrate.IntegrationTests;

/// <summary>
/// A real migrate-target faced with peers that do not follow the protocol:
/// each gets a status that says why, and nothing is left behind.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class AgentProtocolTests : IAsyncLifetime
{
    private TargetAgent _target = null!;
    private GrpcChannel _channel = null!;
    private MigrationTarget.MigrationTargetClient _client = null!;
    private Metadata _auth = null!;

    public async Task InitializeAsync()
    {
        _target = await TargetAgent.StartAsync();
        _channel = GrpcChannel.ForAddress($"http://{_target.Address}");
        _client = new MigrationTarget.MigrationTargetClient(_channel);
        _auth = new Metadata { { "authorization", "Bearer " + (await File.ReadAllTextAsync(_target.TokenFile)).Trim() } };
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _target.DisposeAsync();
    }

    [Fact]
    public async Task Every_call_without_the_token_is_unauthenticated()
    {
        var handshake = await Assert.ThrowsAsync<RpcException>(() => _client.HandshakeAsync(new HandshakeRequest { ProtocolVersion = 1 }).ResponseAsync);
        var wrong = new Metadata { { "authorization", "Bearer " + new string('f', 64) } };
        var commit = await Assert.ThrowsAsync<RpcException>(() => _client.CommitAsync(new CommitRequest { SessionId = "x" }, wrong).ResponseAsync);
        using var stream = _client.SendImages(wrong);
        var images = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await stream.RequestStream.WriteAsync(new ImageStreamMessage { Begin = new ImageSetBegin { SessionId = "x", Set = "final" } });
            await stream.RequestStream.CompleteAsync();
            await stream.ResponseAsync;
        });

        Assert.All(new[] { handshake, commit, images }, e => Assert.Equal(StatusCode.Unauthenticated, e.StatusCode));
    }

    [Fact]
    public async Task A_source_of_another_protocol_is_refused_with_both_versions_named()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => _client.HandshakeAsync(
            new HandshakeRequest { ProtocolVersion = 99, Source = new HostFacts { MigrateVersion = "9.9.9+git1.abc" } }, _auth).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Matches(@"^this target speaks protocol 1 \(migrate 0\.\d+\.\d+\+git\d+\.[0-9a-f]{12}(\.dirty)?\), the source protocol 99 \(migrate 9\.9\.9\+git1\.abc\): install the same migrate version on both hosts$", e.Status.Detail);
    }

    [Fact]
    public async Task A_path_traversal_is_refused_as_invalid_and_writes_nothing()
    {
        var session = await OpenSessionAsync();

        var e = await SendAsync(session,
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
        var session = await OpenSessionAsync();

        var e = await SendAsync(session, Chunk("pages-1.img", TestData(4096)));

        Assert.Equal(StatusCode.DataLoss, e.StatusCode);
        Assert.False(Directory.Exists(Path.Combine(_target.WorkDirectory, session, "images", "final")));
    }

    [Fact]
    public async Task A_corrupt_chunk_is_refused_as_data_loss()
    {
        var session = await OpenSessionAsync();
        var chunk = Chunk("pages-1.img", TestData(4096));
        chunk.Chunk.Frame.Checksum++;

        var e = await SendAsync(session, chunk, End(("pages-1.img", 4096)));

        Assert.Equal(StatusCode.DataLoss, e.StatusCode);
    }

    [Fact]
    public async Task An_oversize_chunk_is_refused_as_resource_exhausted()
    {
        var session = await OpenSessionAsync();
        var size = (1 << 20) + 1;

        var e = await SendAsync(session, Chunk("pages-1.img", TestData(size)), End(("pages-1.img", size)));

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }

    [Fact]
    public async Task Restoring_a_set_that_never_arrived_is_refused()
    {
        var session = await OpenSessionAsync();

        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _client.RestoreAsync(new RestoreRequest { SessionId = session, Set = "final" }, _auth).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
    }

    [Fact]
    public async Task An_unknown_session_is_not_found()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _client.CommitAsync(new CommitRequest { SessionId = "0123" }, _auth).ResponseAsync);

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
        var session = await OpenSessionAsync();

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
            var reply = await _client.PreflightAsync(request, _auth, deadline: DateTime.UtcNow.AddSeconds(60));
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
        using var channel = GrpcChannel.ForAddress($"http://{target.Address}");
        var client = new MigrationTarget.MigrationTargetClient(channel);
        var auth = new Metadata { { "authorization", "Bearer " + (await File.ReadAllTextAsync(target.TokenFile)).Trim() } };
        var handshake = new HandshakeRequest { ProtocolVersion = WireProtocol.Version, Source = new HostFacts() };
        var first = await client.HandshakeAsync(handshake, auth);
        await client.HandshakeAsync(handshake, auth);

        var e = await Assert.ThrowsAsync<RpcException>(() => client.HandshakeAsync(handshake, auth).ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        await client.AbortAsync(new AbortRequest { SessionId = first.SessionId, Reason = "test" }, auth);
        await client.HandshakeAsync(handshake, auth);
    }

    private async Task<string> OpenSessionAsync() =>
        (await _client.HandshakeAsync(new HandshakeRequest { ProtocolVersion = WireProtocol.Version, Source = new HostFacts() }, _auth)).SessionId;

    private async Task<RpcException> SendAsync(string session, params ImageStreamMessage[] messages)
    {
        using var stream = _client.SendImages(_auth);
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
