using System.Runtime.CompilerServices;
using Grpc.Core;
using Migrate.Engine.Migration.Target;
using Migrate.Engine.Protocol;
using Migrate.Protocol;

namespace Migrate.Target;

/// <summary>
/// Adapts the gRPC contract to <see cref="TargetSessions"/>: messages become
/// the engine's records through <see cref="WireMapping"/>, streams go to the
/// protocol layer's receivers, and the session secret header goes with each
/// call's session ID. No migration logic lives here.
/// </summary>
internal sealed class MigrationTargetService(TargetSessions sessions, Engine.Compat.HostFacts facts) : MigrationTarget.MigrationTargetBase
{
    public override Task<HandshakeReply> Handshake(HandshakeRequest request, ServerCallContext context)
    {
        if (ProtocolVersions.Refusal("target", "source", request.ProtocolVersion, request.Source?.MigrateVersion ?? "") is { } refusal)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, refusal));
        }
        var (session, secret) = sessions.Open(WireMapping.FromWire(request.Source));
        CallSession.Bind(context, session.Id);
        return Task.FromResult(new HandshakeReply
        {
            ProtocolVersion = WireProtocol.Version,
            SessionId = session.Id,
            SessionSecret = secret,
            Target = WireMapping.ToWire(facts),
            Limits = WireMapping.ToWire(sessions.Limits),
        });
    }

    public override async Task<PreflightReply> Preflight(PreflightRequest request, ServerCallContext context)
    {
        var checks = await Session(request.SessionId, context).PreflightAsync(WireMapping.FromWire(request), context.CancellationToken);
        var reply = new PreflightReply();
        reply.Checks.AddRange(checks.Select(WireMapping.ToWire));
        return reply;
    }

    public override async Task<PageStreamSummary> SendPages(IAsyncStreamReader<PageStreamMessage> requestStream, ServerCallContext context)
    {
        var token = context.CancellationToken;
        if (!await requestStream.MoveNext(token) || requestStream.Current.KindCase != PageStreamMessage.KindOneofCase.Begin)
        {
            throw new TransferRejectedException(TransferRejection.Malformed, "a page stream must open with PageStreamBegin");
        }
        var begin = requestStream.Current.Begin;
        var session = Session(begin.SessionId, context);
        var round = new Engine.Memory.PageRound((int)Math.Min(begin.Round, int.MaxValue), begin.ImageChain);
        return await session.ReceivePagesAsync(round, (store, t) => PageStreamReceiver.ReceiveAsync(Rest(requestStream, t), store, t), token);
    }

    public override async Task<ImageStreamSummary> SendImages(IAsyncStreamReader<ImageStreamMessage> requestStream, ServerCallContext context)
    {
        var token = context.CancellationToken;
        if (!await requestStream.MoveNext(token) || requestStream.Current.KindCase != ImageStreamMessage.KindOneofCase.Begin)
        {
            throw new TransferRejectedException(TransferRejection.Malformed, "an image stream must open with ImageSetBegin");
        }
        var begin = requestStream.Current.Begin;
        var session = Session(begin.SessionId, context);
        var stats = await session.ReceiveImagesAsync(begin.Set, begin.Parent,
            (directory, limits, t) => ImageSetReceiver.ReceiveAsync(Rest(requestStream, t), directory, limits, t), token);
        return new ImageStreamSummary { Files = (uint)stats.Files, BytesRaw = (ulong)stats.BytesRaw, BytesOnWire = (ulong)stats.BytesOnWire };
    }

    public override async Task<RestoreReply> Restore(RestoreRequest request, ServerCallContext context) =>
        WireMapping.ToWire(await Session(request.SessionId, context).RestoreAsync(WireMapping.FromWire(request), context.CancellationToken));

    public override async Task<CommitReply> Commit(CommitRequest request, ServerCallContext context) =>
        WireMapping.ToWire(await sessions.GetToSettle(CallSession.Bind(context, request.SessionId), Secret(context)).CommitAsync(context.CancellationToken));

    public override async Task<AbortReply> Abort(AbortRequest request, ServerCallContext context)
    {
        int killed = await sessions.GetToSettle(CallSession.Bind(context, request.SessionId), Secret(context)).AbortAsync(request.Reason, context.CancellationToken);
        return new AbortReply { KilledTasks = (uint)killed };
    }

    public override async Task<AwaitPagesReply> AwaitPages(AwaitPagesRequest request, ServerCallContext context) =>
        WireMapping.ToWire(await Session(request.SessionId, context).AwaitPagesAsync(context.CancellationToken));

    /// <summary>The call's session, for its opener alone; recorded as the call's, for the log.</summary>
    private TargetSession Session(string id, ServerCallContext context) => sessions.Get(CallSession.Bind(context, id), Secret(context));

    private static string? Secret(ServerCallContext context) => context.RequestHeaders.GetValue(WireProtocol.SessionSecretHeader);

    private static async IAsyncEnumerable<T> Rest<T>(
        IAsyncStreamReader<T> stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await stream.MoveNext(cancellationToken))
        {
            yield return stream.Current;
        }
    }
}
