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
        if (request.ProtocolVersion != TargetClient.ProtocolVersion)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"this target speaks protocol {TargetClient.ProtocolVersion}, the source {request.ProtocolVersion}: install the same migrate version on both hosts"));
        }
        var session = sessions.Open(request.Source ?? new HostFacts());
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
        sessions.Get(request.SessionId).PreflightAsync(request, context.CancellationToken);

    public override async Task<PageStreamSummary> SendPages(IAsyncStreamReader<PageStreamMessage> requestStream, ServerCallContext context)
    {
        var token = context.CancellationToken;
        if (!await requestStream.MoveNext(token) || requestStream.Current.KindCase != PageStreamMessage.KindOneofCase.Begin)
        {
            throw new TransferRejectedException(TransferRejection.Malformed, "a page stream must open with PageStreamBegin");
        }
        var session = sessions.Get(requestStream.Current.Begin.SessionId);
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
        var session = sessions.Get(begin.SessionId);
        var stats = await session.ReceiveImagesAsync(begin.Set, begin.Parent, Rest(requestStream, token), token);
        return new ImageStreamSummary { Files = (uint)stats.Files, BytesRaw = (ulong)stats.BytesRaw, BytesOnWire = (ulong)stats.BytesOnWire };
    }

    public override Task<RestoreReply> Restore(RestoreRequest request, ServerCallContext context) =>
        sessions.Get(request.SessionId).RestoreAsync(request, context.CancellationToken);

    public override Task<CommitReply> Commit(CommitRequest request, ServerCallContext context) =>
        sessions.Get(request.SessionId).CommitAsync(context.CancellationToken);

    public override async Task<AbortReply> Abort(AbortRequest request, ServerCallContext context)
    {
        int killed = await sessions.Get(request.SessionId).AbortAsync(request.Reason, context.CancellationToken);
        return new AbortReply { KilledTasks = (uint)killed };
    }

    public override Task<AwaitPagesReply> AwaitPages(AwaitPagesRequest request, ServerCallContext context) =>
        sessions.Get(request.SessionId).AwaitPagesAsync(context.CancellationToken);

    private static async IAsyncEnumerable<T> Rest<T>(
        IAsyncStreamReader<T> stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await stream.MoveNext(cancellationToken))
        {
            yield return stream.Current;
        }
    }
}
