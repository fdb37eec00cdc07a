using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Migrate.Engine.Compat;
using Migrate.Engine.Memory;
using Polly;
using Polly.Retry;
using Wire = Migrate.Protocol;

namespace Migrate.Engine.Protocol;

/// <summary>
/// The source's connection to one target agent over gRPC. Every call carries
/// the token; keepalive pings notice a target that dies while a long call is
/// in flight. Every failure leaves here as a <see cref="TargetException"/>.
/// </summary>
public sealed class GrpcTargetAgent : ITargetAgent
{
    private static readonly TimeSpan ShortCall = TimeSpan.FromSeconds(15);

    // Commit and Abort are idempotent on the target, so a transport failure
    // can be retried safely; the other calls are never retried.
    private static readonly ResiliencePipeline IdempotentRetry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<TargetException>(e => e.IsTransient),
            MaxRetryAttempts = 6,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(200),
            MaxDelay = TimeSpan.FromSeconds(5),
            UseJitter = true,
        })
        .Build();

    private readonly GrpcChannel _channel;
    private readonly Wire.MigrationTarget.MigrationTargetClient _client;
    private readonly Metadata _headers;
    private readonly RpcFailures _failures;
    private int _chunkBytes = WireProtocol.DefaultChunkBytes;

    public GrpcTargetAgent(TargetAddress address, string token)
    {
        Address = address;
        _failures = new RpcFailures(address);
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
            MaxReceiveMessageSize = WireProtocol.MaxMessageBytes,
            MaxSendMessageSize = WireProtocol.MaxMessageBytes,
        });
        _client = new Wire.MigrationTarget.MigrationTargetClient(_channel);
        _headers = new Metadata { { WireProtocol.AuthorizationHeader, $"Bearer {token}" } };
    }

    public TargetAddress Address { get; }

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
            return new TargetHealth(Address, false, RpcFailures.Cause(e));
        }
        catch (RpcException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (RpcException e)
        {
            // The health service itself failed: the agent is up but cannot vouch for itself.
            return new TargetHealth(Address, false, $"its health check failed ({e.StatusCode}: {e.Status.Detail}); the agent's log says why");
        }
    }

    public Task<TargetHandshake> HandshakeAsync(HostFacts source, CancellationToken cancellationToken) => _failures.Translate(async () =>
    {
        var reply = await _client.HandshakeAsync(
            new Wire.HandshakeRequest { ProtocolVersion = WireProtocol.Version, Source = WireMapping.ToWire(source) },
            Options(ShortCall, cancellationToken)).ConfigureAwait(false);
        if (ProtocolVersions.Refusal("source", "target", reply.ProtocolVersion, reply.Target?.MigrateVersion ?? "") is { } refusal)
        {
            throw new TargetException(TargetFailure.ProtocolMismatch, $"the target {Address} cannot be used: {refusal}");
        }
        // The ID becomes a directory name on this host: check it before anything uses it.
        if (!SessionIds.IsValid(reply.SessionId))
        {
            throw new TargetException(TargetFailure.BadAnswer,
                $"the target {Address} sent a malformed session ID (not {SessionIds.Length} lowercase hex digits); is it a migrate-target?");
        }
        var limits = WireMapping.FromWire(reply.Limits);
        _chunkBytes = Math.Clamp(limits.MaxChunkBytes, 4096, WireProtocol.DefaultChunkBytes);
        return new TargetHandshake(reply.SessionId, WireMapping.FromWire(reply.Target), limits);
    });

    public Task<IReadOnlyList<CheckResult>> PreflightAsync(string sessionId, PreflightQuery query, CancellationToken cancellationToken) =>
        _failures.Translate(async () =>
        {
            var reply = await _client.PreflightAsync(WireMapping.ToWire(sessionId, query), Options(ShortCall * 4, cancellationToken)).ConfigureAwait(false);
            return (IReadOnlyList<CheckResult>)reply.Checks.Select(WireMapping.FromWire).ToList();
        });

    public Task<PageStreamStats> SendPagesAsync(
        string sessionId, PageRound round, PageScan scan, IProgress<long>? bytesSent, CancellationToken cancellationToken) =>
        _failures.Translate(async () =>
        {
            using var call = _client.SendPages(Options(null, cancellationToken));
            var stats = await PageStreamSender.SendAsync(call.RequestStream, sessionId, round, scan, bytesSent, cancellationToken)
                .ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            var summary = await call.ResponseAsync.ConfigureAwait(false);
            if (summary.Pages != (ulong)stats.PagesSent || summary.ZeroPages != (ulong)stats.ZeroPages)
            {
                throw new TargetException(TargetFailure.BadAnswer,
                    $"the target {Address} stored {summary.Pages} pages and {summary.ZeroPages} zero pages of {stats.PagesSent} and {stats.ZeroPages} sent");
            }
            return stats;
        });

    public Task<TransferStats> SendImagesAsync(string sessionId, ImageSetUpload set, IProgress<long>? bytesSent, CancellationToken cancellationToken) =>
        _failures.Translate(async () =>
        {
            using var call = _client.SendImages(Options(null, cancellationToken));
            var begin = new Wire.ImageSetBegin { SessionId = sessionId, Set = set.Name, Parent = set.Parent ?? "" };
            var stats = await new ImageSetSender(_chunkBytes)
                .SendAsync(call.RequestStream, begin, set.Directory, set.Exclude, bytesSent, cancellationToken).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            var summary = await call.ResponseAsync.ConfigureAwait(false);
            if (summary.BytesRaw != (ulong)stats.BytesRaw || summary.Files != stats.Files)
            {
                throw new TargetException(TargetFailure.BadAnswer,
                    $"the target {Address} stored {summary.Files} files and {summary.BytesRaw} bytes of {stats.Files} files and {stats.BytesRaw} bytes sent");
            }
            return stats;
        });

    public Task<RestoreResult> RestoreAsync(string sessionId, RestoreOrder order, TimeSpan timeout, CancellationToken cancellationToken) =>
        _failures.Translate(async () => WireMapping.FromWire(
            await _client.RestoreAsync(WireMapping.ToWire(sessionId, order), Options(timeout, cancellationToken)).ConfigureAwait(false)));

    public async Task<CommitResult> CommitAsync(string sessionId, CancellationToken cancellationToken) =>
        await IdempotentRetry.ExecuteAsync(
            async token => await _failures.Translate(async () => WireMapping.FromWire(
                await _client.CommitAsync(new Wire.CommitRequest { SessionId = sessionId }, Options(ShortCall, token)).ConfigureAwait(false)))
                .ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);

    public async Task<int> AbortAsync(string sessionId, string reason, CancellationToken cancellationToken) =>
        await IdempotentRetry.ExecuteAsync(
            async token => await _failures.Translate(async () => (int)(
                await _client.AbortAsync(new Wire.AbortRequest { SessionId = sessionId, Reason = reason }, Options(ShortCall, token))
                    .ConfigureAwait(false)).KilledTasks).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);

    public Task<PagesArrival> AwaitPagesAsync(string sessionId, CancellationToken cancellationToken) =>
        _failures.Translate(async () => WireMapping.FromWire(
            await _client.AwaitPagesAsync(new Wire.AwaitPagesRequest { SessionId = sessionId }, Options(null, cancellationToken)).ConfigureAwait(false)));

    private CallOptions Options(TimeSpan? timeout, CancellationToken cancellationToken) =>
        new(_headers, timeout is { } t ? DateTime.UtcNow + t : null, cancellationToken);

    public void Dispose() => _channel.Dispose();
}
