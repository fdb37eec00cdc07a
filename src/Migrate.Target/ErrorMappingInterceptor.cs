using Grpc.Core;
using Grpc.Core.Interceptors;
using Google.Protobuf;
using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Migration.Target;
using Migrate.Engine.Protocol;

namespace Migrate.Target;

/// <summary>Turns the engine's exceptions into gRPC statuses whose detail tells the source why.</summary>
internal sealed partial class ErrorMappingInterceptor(ILogger<ErrorMappingInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (ToStatus(e) is { } status)
        {
            throw Refuse(context, status, e);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception e) when (ToStatus(e) is { } status)
        {
            throw Refuse(context, status, e);
        }
    }

    private RpcException Refuse(ServerCallContext context, Status status, Exception e)
    {
        if (CallSession.Of(context) is { } session)
        {
            LogSessionRefused(logger, session, context.Method, status.StatusCode, status.Detail);
        }
        else
        {
            LogRefused(logger, context.Method, status.StatusCode, status.Detail);
        }
        var trailers = new Metadata();
        if (e is CheckFailedException failed)
        {
            // The source's report names the check that refused.
            trailers.Add(WireProtocol.FailedCheckTrailer, WireMapping.ToWire(failed.Check).ToByteArray());
        }
        return new RpcException(status, trailers, e.Message);
    }

    internal static Status? ToStatus(Exception e) => e switch
    {
        SessionNotFoundException => new Status(StatusCode.NotFound, e.Message),
        SessionAccessDeniedException => new Status(StatusCode.PermissionDenied, e.Message),
        CheckFailedException => new Status(StatusCode.FailedPrecondition, e.Message),
        InvalidSessionStateException => new Status(StatusCode.FailedPrecondition, e.Message),
        TransferRejectedException rejected => new Status(rejected.Reason switch
        {
            TransferRejection.Malformed => StatusCode.InvalidArgument,
            TransferRejection.Corrupt => StatusCode.DataLoss,
            TransferRejection.Incomplete => StatusCode.DataLoss,
            TransferRejection.TooLarge => StatusCode.ResourceExhausted,
            _ => StatusCode.ResourceExhausted,
        }, e.Message),
        InvalidDataException => new Status(StatusCode.InvalidArgument, e.Message),
        CriuException => new Status(StatusCode.Internal, e.Message),
        TimeoutException => new Status(StatusCode.Internal, e.Message),
        _ => null,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} refused with {Code}: {Detail}")]
    private static partial void LogRefused(ILogger logger, string method, StatusCode code, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: {Method} refused with {Code}: {Detail}")]
    private static partial void LogSessionRefused(ILogger logger, string sessionId, string method, StatusCode code, string detail);
}
