using System.Net.Sockets;
using Google.Protobuf;
using Grpc.Core;
using Wire = Migrate.Protocol;

namespace Migrate.Engine.Protocol;

/// <summary>
/// Turns gRPC's failures into <see cref="TargetException"/>s whose messages
/// name the cause and what to do: "connection refused", not "Error connecting
/// to subchannel".
/// </summary>
internal sealed class RpcFailures(TargetAddress address)
{
    public async Task<T> Translate<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
        {
            throw new OperationCanceledException("cancelled", e);
        }
        catch (RpcException e)
        {
            throw Translate(e);
        }
    }

    public TargetException Translate(RpcException e) => e.StatusCode switch
    {
        StatusCode.Unauthenticated => new TargetException(TargetFailure.Unauthenticated,
            $"the target {address} refused the token: use the token file the target agent wrote (--token-file)", e),
        StatusCode.Unavailable => new TargetException(TargetFailure.Unreachable, Unreachable(e), e),
        StatusCode.DeadlineExceeded => new TargetException(TargetFailure.TimedOut, $"the target {address} did not answer in time", e),
        StatusCode.Aborted => new TargetException(TargetFailure.Unreachable, $"the connection to the target {address} broke: {e.Status.Detail}", e),
        StatusCode.NotFound => new TargetException(TargetFailure.SessionNotFound, $"the target {address} refused: {e.Status.Detail}", e),
        _ => new TargetException(TargetFailure.Refused, $"the target {address} refused: {e.Status.Detail}", e, FailedCheck(e)),
    };

    private string Unreachable(RpcException e) => $"cannot reach the target {address}: {Cause(e)}";

    /// <summary>Why a connection could not be made, in words: "connection refused: is migrate-target running there, ...".</summary>
    public static string Cause(RpcException e) =>
        Innermost(e.Status.DebugException) switch
        {
            SocketException { SocketErrorCode: SocketError.ConnectionRefused } =>
                "connection refused: is migrate-target running there, and listening on that port?",
            SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData } => "no such host",
            SocketException { SocketErrorCode: SocketError.TimedOut } => "the connection timed out: check the address and the firewall",
            SocketException { SocketErrorCode: SocketError.NetworkUnreachable or SocketError.HostUnreachable } => "no route to the host",
            SocketException { SocketErrorCode: SocketError.ConnectionReset } => "the connection was reset",
            HttpRequestException or null => e.Status.Detail,
            var inner => inner.Message,
        };

    private static Exception? Innermost(Exception? e)
    {
        while (e?.InnerException is not null)
        {
            e = e.InnerException;
        }
        return e;
    }

    private static Compat.CheckResult? FailedCheck(RpcException e)
    {
        if (e.Trailers.GetValueBytes(WireProtocol.FailedCheckTrailer) is not { } bytes)
        {
            return null;
        }
        try
        {
            return WireMapping.FromWire(Wire.CheckResult.Parser.ParseFrom(bytes));
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }
}
