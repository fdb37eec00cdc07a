using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Migrate.Protocol;
using Polly;
using Polly.Retry;

namespace Migrate.Engine.Transfer;

/// <summary>A target agent's address as the operator writes it: HOST:PORT or [IPv6]:PORT.</summary>
public sealed record TargetAddress(string Host, int Port)
{
    /// <param name="text">HOST:PORT.</param>
    /// <param name="allowAnyPort">Accept port 0, which asks the kernel for a free port (listening only).</param>
    public static TargetAddress Parse(string text, bool allowAnyPort = false)
    {
        int colon = text.LastIndexOf(':');
        int lowest = allowAnyPort ? 0 : 1;
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), out int port) || port < lowest || port > 65535)
        {
            throw new FormatException($"'{text}' is not HOST:PORT");
        }
        var host = text[..colon];
        if (host.StartsWith('[') != host.EndsWith(']'))
        {
            throw new FormatException($"'{text}' is not HOST:PORT");
        }
        return new TargetAddress(host, port);
    }

    public Uri ToUri() => new($"http://{Host}:{Port}");

    public override string ToString() => $"{Host}:{Port}";
}

/// <summary>
/// The source's connection to one target agent. Every call carries the token;
/// keepalive pings notice a target that dies while a long call is in flight.
/// </summary>
public sealed class TargetClient : IDisposable
{
    public const uint ProtocolVersion = 1;

    private static readonly TimeSpan ShortCall = TimeSpan.FromSeconds(15);

    // Commit and Abort are idempotent on the target, so a transport failure
    // can be retried safely; the other calls are never retried.
    private static readonly ResiliencePipeline IdempotentRetry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<RpcException>(IsTransient),
            MaxRetryAttempts = 6,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(200),
            MaxDelay = TimeSpan.FromSeconds(5),
            UseJitter = true,
        })
        .Build();

    private readonly GrpcChannel _channel;
    private readonly MigrationTarget.MigrationTargetClient _client;
    private readonly Metadata _headers;

    public TargetClient(TargetAddress address, string token)
    {
        Address = address;
        _channel = GrpcChannel.ForAddress(address.ToUri(), new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = TimeSpan.FromSeconds(10),
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
                EnableMultipleHttp2Connections = true,
            },
            MaxReceiveMessageSize = 4 << 20,
            MaxSendMessageSize = 4 << 20,
        });
        _client = new MigrationTarget.MigrationTargetClient(_channel);
        _headers = new Metadata { { "authorization", $"Bearer {token}" } };
    }

    public TargetAddress Address { get; }

    public async Task<HandshakeReply> HandshakeAsync(HostFacts source, CancellationToken cancellationToken)
    {
        var reply = await _client.HandshakeAsync(
            new HandshakeRequest { ProtocolVersion = ProtocolVersion, Source = source },
            Options(ShortCall, cancellationToken)).ConfigureAwait(false);
        // The ID becomes a directory name here: check it before anything uses it.
        SessionIds.Require(reply.SessionId, $"the target {Address}");
        return reply;
    }

    /// <summary>
    /// Asks the agent's standard health service (grpc.health.v1.Health) whether
    /// it serves, on a connection of its own whose connect timeout is
    /// <see cref="TargetHealth.ConnectTimeout"/>. An agent without that service
    /// is up as far as this goes: the handshake judges it.
    /// </summary>
    public async Task<TargetHealth> CheckHealthAsync(CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(Address.ToUri(), new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { ConnectTimeout = TargetHealth.ConnectTimeout },
        });
        try
        {
            var reply = await new Health.HealthClient(channel).CheckAsync(
                new HealthCheckRequest(), new CallOptions(deadline: DateTime.UtcNow + TargetHealth.AnswerTimeout, cancellationToken: cancellationToken))
                .ConfigureAwait(false);
            return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving
                ? new TargetHealth(Address, true, "serving")
                : new TargetHealth(Address, false, $"the agent answers {reply.Status} (its log says why)");
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unimplemented)
        {
            return new TargetHealth(Address, true, "up (the agent has no health service)");
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.DeadlineExceeded)
        {
            return new TargetHealth(Address, false, $"no answer to a health check within {TargetHealth.AnswerTimeout.TotalSeconds:0} s");
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable)
        {
            // grpc-dotnet puts the socket's error ("Connection refused") below its own words.
            var cause = e.Status.DebugException?.GetBaseException().Message ?? e.Status.Detail;
            return new TargetHealth(Address, false, $"{cause} (is migrate-target running there?)");
        }
    }

    /// <summary>
    /// Throws, as Unavailable, when the agent is down, so that callers treat it
    /// like a refused connection (transient: an evacuation tries it again).
    /// </summary>
    public async Task RequireUpAsync(CancellationToken cancellationToken)
    {
        var health = await CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        if (!health.IsUp)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, health.Detail));
        }
    }

    /// <param name="set">The set's name on the target.</param>
    /// <param name="parent">The set this one's images name as parent, or null.</param>
    /// <param name="exclude">Files of the directory the target rebuilds itself.</param>
    public async Task<TransferStats> SendImagesAsync(
        string sessionId, string set, string? parent, string directory, IReadOnlySet<string> exclude, int chunkBytes,
        IProgress<long>? bytesSent, CancellationToken cancellationToken)
    {
        using var call = _client.SendImages(Options(null, cancellationToken));
        var stats = await new ImageSetSender(chunkBytes)
            .SendAsync(call.RequestStream, new ImageSetBegin { SessionId = sessionId, Set = set, Parent = parent ?? "" }, directory, exclude,
                bytesSent, cancellationToken).ConfigureAwait(false);
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        var summary = await call.ResponseAsync.ConfigureAwait(false);
        if (summary.BytesRaw != (ulong)stats.BytesRaw || summary.Files != stats.Files)
        {
            throw new InvalidDataException(
                $"the target stored {summary.Files} files and {summary.BytesRaw} bytes of {stats.Files} files and {stats.BytesRaw} bytes sent");
        }
        return stats;
    }

    public async Task<PreflightReply> PreflightAsync(PreflightRequest request, CancellationToken cancellationToken) =>
        await _client.PreflightAsync(request, Options(ShortCall * 4, cancellationToken)).ConfigureAwait(false);

    /// <summary>Streams one round of pages; <paramref name="round"/> 0 is the final differences.</summary>
    public async Task<PageStreamStats> SendPagesAsync(
        string sessionId, uint round, PageStreamSender.Scan scan, IProgress<long>? bytesSent, CancellationToken cancellationToken)
    {
        using var call = _client.SendPages(Options(null, cancellationToken));
        var stats = await PageStreamSender.SendAsync(call.RequestStream, sessionId, round, scan, bytesSent, cancellationToken)
            .ConfigureAwait(false);
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        var summary = await call.ResponseAsync.ConfigureAwait(false);
        if (summary.Pages != (ulong)stats.PagesSent || summary.ZeroPages != (ulong)stats.ZeroPages)
        {
            throw new InvalidDataException(
                $"the target stored {summary.Pages} pages and {summary.ZeroPages} zero pages of {stats.PagesSent} and {stats.ZeroPages} sent");
        }
        return stats;
    }

    /// <summary>Waits, as long as it takes, until a lazily restored process has all its pages.</summary>
    public async Task<AwaitPagesReply> AwaitPagesAsync(string sessionId, CancellationToken cancellationToken) =>
        await _client.AwaitPagesAsync(new AwaitPagesRequest { SessionId = sessionId }, Options(null, cancellationToken)).ConfigureAwait(false);

    public async Task<RestoreReply> RestoreAsync(RestoreRequest request, TimeSpan timeout, CancellationToken cancellationToken) =>
        await _client.RestoreAsync(request, Options(timeout, cancellationToken)).ConfigureAwait(false);

    public async Task<CommitReply> CommitAsync(string sessionId, CancellationToken cancellationToken) =>
        await IdempotentRetry.ExecuteAsync(
            async token => await _client.CommitAsync(new CommitRequest { SessionId = sessionId }, Options(ShortCall, token)),
            cancellationToken).ConfigureAwait(false);

    public async Task<AbortReply> AbortAsync(string sessionId, string reason, CancellationToken cancellationToken) =>
        await IdempotentRetry.ExecuteAsync(
            async token => await _client.AbortAsync(new AbortRequest { SessionId = sessionId, Reason = reason }, Options(ShortCall, token)),
            cancellationToken).ConfigureAwait(false);

    /// <summary>A failure in words that say what to do.</summary>
    public string Explain(Exception e) => e switch
    {
        RpcException { StatusCode: StatusCode.Unauthenticated } =>
            $"the target {Address} refused the token: use the token file the target agent wrote (--token-file)",
        RpcException { StatusCode: StatusCode.Unavailable } rpc =>
            $"cannot reach the target {Address}: {rpc.Status.Detail}",
        RpcException { StatusCode: StatusCode.DeadlineExceeded } =>
            $"the target {Address} did not answer in time",
        RpcException rpc => $"the target {Address} refused: {rpc.Status.Detail}",
        OperationCanceledException => "cancelled",
        _ => e.Message,
    };

    /// <summary>Failures of the transport, not answers of the target.</summary>
    public static bool IsTransient(RpcException e) =>
        e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Aborted;

    private CallOptions Options(TimeSpan? timeout, CancellationToken cancellationToken) =>
        new(_headers, timeout is { } t ? DateTime.UtcNow + t : null, cancellationToken);

    public void Dispose() => _channel.Dispose();
}
