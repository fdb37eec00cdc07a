using System.Runtime.CompilerServices;
using Grpc.Core;
using Migrate.Engine.Migration;
using Migrate.Engine.Transfer;
using Migrate.Protocol;

namespace Migrate.Target;

/// <summary>Adapts the gRPC contract to <see cref="TargetSessions"/>; no migration logic lives here.</summary>
internal sealed class MigrationTargetService(TargetSessions sessions, HostFacts facts) : MigrationTarget.MigrationTargetBase
{
    public override Task<HandshakeReply> Handshake(HandshakeRequest request, ServerCallContext context)
    {
        if (ProtocolVersions.Refusal("target", "source", request.ProtocolVersion, request.Source?.MigrateVersion ?? "") is { } refusal)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, refusal));
        }
        var session = sessions.Open(request.Source ?? new HostFacts());
        CallSession.Bind(context, session.Id);
        return Task.FromResult(new HandshakeReply
        {
            ProtocolVersion = TargetClient.ProtocolVersion,
            SessionId = session.Id,
            Target = facts,
            Limits = new TargetLimits
            {
                MaxChunkBytes = (uint)sessions.Options.MaxChunkBytes,
                MaxSessionBytes = (ulong)sessions.Options.MaxSessionBytes,
            },
        });
    }

    public override Task<PreflightReply> Preflight(PreflightRequest request, ServerCallContext context) =>
        sessions.Get(CallSession.Bind(context, request.SessionId)).PreflightAsync(request, context.CancellationToken);

    public override async Task<PageStreamSummary> SendPages(IAsyncStreamReader<PageStreamMessage> requestStream, ServerCallContext context)
    {
        var token = context.CancellationToken;
        if (!await requestStream.MoveNext(token) || requestStream.Current.KindCase != PageStreamMessage.KindOneofCase.Begin)
        {
            throw new TransferRejectedException(TransferRejection.Malformed, "a page stream must open with PageStreamBegin");
        }
        var session = sessions.Get(CallSession.Bind(context, requestStream.Current.Begin.SessionId));
        return await session.ReceivePagesAsync(Rest(requestStream, token), token);
    }

    public override async Task<ImageStreamSummary> SendImages(IAsyncStreamReader<ImageStreamMessage> requestStream, ServerCallContext context)
    {
        var token = context.CancellationToken;
        if (!await requestStream.MoveNext(token) || requestStream.Current.KindCase != ImageStreamMessage.KindOneofCase.Begin)
        {
            throw new TransferRejectedException(TransferRejection.Malformed, "an image stream must open with ImageSetBegin");
        }
        var begin = requestStream.Current.Begin;
        var session = sessions.Get(CallSession.Bind(context, begin.SessionId));
        var stats = await session.ReceiveImagesAsync(begin.Set, begin.Parent, Rest(requestStream, token), token);
        return new ImageStreamSummary { Files = (uint)stats.Files, BytesRaw = (ulong)stats.BytesRaw, BytesOnWire = (ulong)stats.BytesOnWire };
    }

    public override Task<RestoreReply> Restore(RestoreRequest request, ServerCallContext context) =>
        sessions.Get(CallSession.Bind(context, request.SessionId)).RestoreAsync(request, context.CancellationToken);

    public override Task<CommitReply> Commit(CommitRequest request, ServerCallContext context) =>
        sessions.Get(CallSession.Bind(context, request.SessionId)).CommitAsync(context.CancellationToken);

    public override async Task<AbortReply> Abort(AbortRequest request, ServerCallContext context)
    {
        int killed = await sessions.Get(CallSession.Bind(context, request.SessionId)).AbortAsync(request.Reason, context.CancellationToken);
        return new AbortReply { KilledTasks = (uint)killed };
    }

    public override Task<AwaitPagesReply> AwaitPages(AwaitPagesRequest request, ServerCallContext context) =>
        sessions.Get(CallSession.Bind(context, request.SessionId)).AwaitPagesAsync(context.CancellationToken);

    private static async IAsyncEnumerable<T> Rest<T>(
        IAsyncStreamReader<T> stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await stream.MoveNext(cancellationToken))
        {
            yield return stream.Current;
        }
    }
}
