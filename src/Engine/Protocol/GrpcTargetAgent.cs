using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
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
    private readonly string _authorization;
    private readonly string? _operatorSecret;
    private readonly RpcFailures _failures;
    private readonly ConcurrentDictionary<string, string> _sessionSecrets = new(StringComparer.Ordinal);
    private int _chunkBytes = WireProtocol.DefaultChunkBytes;

    /// <summary>Why the TLS handshake refused the target's certificate, once it has.</summary>
    private string? _untrusted;

    public GrpcTargetAgent(TargetAddress address, TargetCredentials credentials)
    {
        Address = address;
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
                SslOptions = new SslClientAuthenticationOptions
                {
                    EnabledSslProtocols = SslProtocols.Tls13,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                    RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Recognise(credentials.Trust, certificate, chain, errors),
                    ClientCertificateContext = credentials.ClientCertificate is { } mine
                        ? SslStreamCertificateContext.Create(mine, additionalCertificates: null, offline: true)
                        : null,
                },
            },
            MaxReceiveMessageSize = WireProtocol.MaxMessageBytes,
            MaxSendMessageSize = WireProtocol.MaxMessageBytes,
        });
        _client = new Wire.MigrationTarget.MigrationTargetClient(_channel);
        _authorization = $"Bearer {credentials.Token}";
        _operatorSecret = credentials.OperatorSecret;
    }

    public TargetAddress Address { get; }

    public Task<TargetHandshake> HandshakeAsync(HostFacts source, CancellationToken cancellationToken) => _failures.Translate(async () =>
    {
        var reply = await _client.HandshakeAsync(
            new Wire.HandshakeRequest { ProtocolVersion = WireProtocol.Version, Source = WireMapping.ToWire(source) },
            Options(null, ShortCall, cancellationToken)).ConfigureAwait(false);
        if (reply.ProtocolVersion != WireProtocol.Version)
        {
            throw new TargetException(TargetFailure.ProtocolMismatch,
                $"the target {Address} speaks protocol {reply.ProtocolVersion}, this migrate speaks {WireProtocol.Version}: install the same migrate version on both hosts");
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
        if (sessionId is not null && (_sessionSecrets.TryGetValue(sessionId, out var secret) ? secret : _operatorSecret) is { } presented)
        {
            headers.Add(WireProtocol.SessionSecretHeader, presented);
        }
        return new CallOptions(headers, timeout is { } t ? DateTime.UtcNow + t : null, cancellationToken);
    }

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

    public void Dispose() => _channel.Dispose();
}
