using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Migrate.Engine.Compat;
using Migrate.Engine.Credentials;
using Migrate.Engine.Memory;
using Polly;
using Polly.Retry;
using Wire = Migrate.Protocol;

namespace Migrate.Engine.Protocol;

/// <summary>
/// The source's connection to one target agent over gRPC on TLS 1.3. The
/// target's certificate is checked during the TLS handshake, so the token
/// goes only to a target the credentials recognise. Every call carries the
/// token, and every call for a session the secret its handshake returned;
/// keepalive pings notice a target that dies while a long call is in flight.
/// Every failure leaves here as a <see cref="TargetException"/>.
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
    private readonly TargetCredentials _credentials;
    private readonly string _authorization;
    private readonly RpcFailures _failures;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, string> _sessionSecrets = new(StringComparer.Ordinal);
    private int _chunkBytes = WireProtocol.DefaultChunkBytes;

    /// <summary>Why the TLS handshake refused the target's certificate, once it has.</summary>
    private string? _untrusted;

    /// <param name="time">The clock call deadlines are counted on; the system's unless a test brings its own.</param>
    public GrpcTargetAgent(TargetAddress address, TargetCredentials credentials, TimeProvider? time = null)
    {
        Address = address;
        _credentials = credentials;
        _time = time ?? TimeProvider.System;
        _failures = new RpcFailures(address, () => Volatile.Read(ref _untrusted));
        _channel = GrpcChannel.ForAddress(address.ToUri(), new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = TimeSpan.FromSeconds(10),
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
                EnableMultipleHttp2Connections = true,
                SslOptions = Tls(),
            },
            MaxReceiveMessageSize = WireProtocol.MaxMessageBytes,
            MaxSendMessageSize = WireProtocol.MaxMessageBytes,
        });
        _client = new Wire.MigrationTarget.MigrationTargetClient(_channel);
        _authorization = $"Bearer {credentials.Token}";
    }

    public TargetAddress Address { get; }

    /// <summary>
    /// The health check's connection is TLS 1.3 too, and recognises the
    /// target as every call does, before its one request; that request
    /// carries no token. Its connect timeout covers the TCP connect alone
    /// (SocketsHttpHandler's ConnectTimeout would also cover the TLS
    /// handshake): a host that is down is skipped within seconds, while an
    /// agent slow to answer its handshake has the answer deadline, like any
    /// slow agent.
    /// </summary>
    public async Task<TargetHealth> CheckHealthAsync(CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(Address.ToUri(), new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { ConnectCallback = ConnectWithin(TargetHealth.ConnectTimeout), SslOptions = Tls() },
        });
        try
        {
            var reply = await new Health.HealthClient(channel).CheckAsync(
                new HealthCheckRequest(), new CallOptions(deadline: Deadline(TargetHealth.AnswerTimeout), cancellationToken: cancellationToken))
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
        catch (RpcException e) when (_failures.Translate(e) is { Failure: TargetFailure.Untrusted } refused)
        {
            // It answers, so it is up; that it is not the target the
            // credentials name is the handshake's to say, and it says so
            // before sending anything, as this check did.
            return new TargetHealth(Address, true, $"up, but {refused.Message}");
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable || RpcFailures.ClosedBeforeHttp2(e))
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
            Options(null, ShortCall, cancellationToken)).ConfigureAwait(false);
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
        if (!SessionSecrets.IsValid(reply.SessionSecret))
        {
            throw new TargetException(TargetFailure.BadAnswer,
                $"the target {Address} sent no usable session secret (not {SessionSecrets.Length} lowercase hex digits); is it a migrate-target?");
        }
        _sessionSecrets[reply.SessionId] = reply.SessionSecret;
        var limits = WireMapping.FromWire(reply.Limits);
        _chunkBytes = Math.Clamp(limits.MaxChunkBytes, 4096, WireProtocol.DefaultChunkBytes);
        return new TargetHandshake(reply.SessionId, WireMapping.FromWire(reply.Target), limits);
    });

    public Task<IReadOnlyList<CheckResult>> PreflightAsync(string sessionId, PreflightQuery query, CancellationToken cancellationToken) =>
        _failures.Translate(async () =>
        {
            var reply = await _client.PreflightAsync(WireMapping.ToWire(sessionId, query), Options(sessionId, ShortCall * 4, cancellationToken)).ConfigureAwait(false);
            return (IReadOnlyList<CheckResult>)reply.Checks.Select(WireMapping.FromWire).ToList();
        });

    public Task<PageStreamStats> SendPagesAsync(
        string sessionId, PageRound round, PageScan scan, IProgress<long>? bytesSent, CancellationToken cancellationToken) =>
        _failures.Translate(async () =>
        {
            using var call = _client.SendPages(Options(sessionId, null, cancellationToken));
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
            using var call = _client.SendImages(Options(sessionId, null, cancellationToken));
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
            await _client.RestoreAsync(WireMapping.ToWire(sessionId, order), Options(sessionId, timeout, cancellationToken)).ConfigureAwait(false)));

    public async Task<CommitResult> CommitAsync(string sessionId, CancellationToken cancellationToken) =>
        await IdempotentRetry.ExecuteAsync(
            async token => await _failures.Translate(async () => WireMapping.FromWire(
                await _client.CommitAsync(new Wire.CommitRequest { SessionId = sessionId }, Options(sessionId, ShortCall, token)).ConfigureAwait(false)))
                .ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);

    public async Task<int> AbortAsync(string sessionId, string reason, CancellationToken cancellationToken) =>
        await IdempotentRetry.ExecuteAsync(
            async token => await _failures.Translate(async () => (int)(
                await _client.AbortAsync(new Wire.AbortRequest { SessionId = sessionId, Reason = reason }, Options(sessionId, ShortCall, token))
                    .ConfigureAwait(false)).KilledTasks).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);

    public Task<PagesArrival> AwaitPagesAsync(string sessionId, CancellationToken cancellationToken) =>
        _failures.Translate(async () => WireMapping.FromWire(
            await _client.AwaitPagesAsync(new Wire.AwaitPagesRequest { SessionId = sessionId }, Options(sessionId, null, cancellationToken)).ConfigureAwait(false)));

    /// <summary>
    /// The token, and for a session its secret: the one its handshake returned
    /// here, or for a session this process did not open (settled by hand) the
    /// operator's.
    /// </summary>
    private CallOptions Options(string? sessionId, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var headers = new Metadata { { WireProtocol.AuthorizationHeader, _authorization } };
        if (sessionId is not null && (_sessionSecrets.TryGetValue(sessionId, out var secret) ? secret : _credentials.OperatorSecret) is { } presented)
        {
            headers.Add(WireProtocol.SessionSecretHeader, presented);
        }
        return new CallOptions(headers, timeout is { } t ? Deadline(t) : null, cancellationToken);
    }

    private DateTime Deadline(TimeSpan timeout) => _time.GetUtcNow().UtcDateTime + timeout;

    /// <summary>
    /// TLS 1.3 only, and the target recognised during the handshake, before
    /// any request is sent; this host's certificate for a target that
    /// requires one. A new instance for each handler: each keeps its own.
    /// </summary>
    private SslClientAuthenticationOptions Tls() => new()
    {
        EnabledSslProtocols = SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Recognise(_credentials.Trust, certificate, chain, errors),
        ClientCertificateContext = _credentials.ClientCertificate is { } mine
            ? SslStreamCertificateContext.Create(mine, additionalCertificates: null, offline: true)
            : null,
    };

    /// <summary>The TLS handshake's check of the target, before any request is sent.</summary>
    private bool Recognise(TargetTrust trust, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var refusal = trust.Refusal(certificate as X509Certificate2, chain, errors);
        if (refusal is not null)
        {
            Volatile.Write(ref _untrusted, refusal);
        }
        return refusal is null;
    }

    /// <summary>A TCP connection made within <paramref name="timeout"/>, else a timed-out SocketException.</summary>
    private static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectWithin(TimeSpan timeout) =>
        async (context, cancellationToken) =>
        {
            using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            patience.CancelAfter(timeout);
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(context.DnsEndPoint, patience.Token).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                throw new SocketException((int)SocketError.TimedOut);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };

    public void Dispose() => _channel.Dispose();
}
