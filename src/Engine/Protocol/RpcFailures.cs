using System.Net.Sockets;
using System.Security.Authentication;
using Google.Protobuf;
using Grpc.Core;
using Wire = Migrate.Protocol;

namespace Migrate.Engine.Protocol;

/// <summary>
/// Turns gRPC's failures into <see cref="TargetException"/>s whose messages
/// name the cause and what to do: "connection refused", not "Error connecting
/// to subchannel".
/// </summary>
/// <param name="untrusted">Why the TLS handshake refused the target's certificate, if it did.</param>
internal sealed class RpcFailures(TargetAddress address, Func<string?> untrusted)
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

    public TargetException Translate(RpcException e)
    {
        if (Chain(e.Status.DebugException).LastOrDefault() is AuthenticationException tls)
        {
            return HandshakeFailed(e, tls);
        }
        return e.StatusCode switch
        {
            StatusCode.Unauthenticated => new TargetException(TargetFailure.Unauthenticated,
                $"the target {address} refused the token: use the token file the target agent wrote (--token-file)", e),
            StatusCode.PermissionDenied => new TargetException(TargetFailure.Unauthenticated, $"the target {address} refused: {e.Status.Detail}", e),
            StatusCode.Unavailable => new TargetException(TargetFailure.Unreachable, Unreachable(e), e),
            _ when ClosedBeforeHttp2(e) => new TargetException(TargetFailure.Unreachable, Unreachable(e), e),
            StatusCode.DeadlineExceeded => new TargetException(TargetFailure.TimedOut, $"the target {address} did not answer in time", e),
            StatusCode.Aborted => new TargetException(TargetFailure.Unreachable, $"the connection to the target {address} broke: {e.Status.Detail}", e),
            StatusCode.NotFound => new TargetException(TargetFailure.SessionNotFound, $"the target {address} refused: {e.Status.Detail}", e),
            _ => new TargetException(TargetFailure.Refused, $"the target {address} refused: {e.Status.Detail}", e, FailedCheck(e)),
        };
    }

    /// <summary>No request went out: the call failed in the TLS handshake.</summary>
    private TargetException HandshakeFailed(RpcException e, AuthenticationException tls) => new(TargetFailure.Untrusted, untrusted() is { } refusal
        ? $"refused the target {address} during the TLS handshake, before sending it anything: {refusal}"
        : $"the TLS handshake with the target {address} failed ({tls.Message}): is it a migrate-target of this version (they speak TLS 1.3 only)?", e);

    private string Unreachable(RpcException e) => $"cannot reach the target {address}: {Cause(e)}";

    /// <summary>A connection the target closed before HTTP/2 began: gRPC calls that Internal.</summary>
    public static bool ClosedBeforeHttp2(RpcException e) => e.StatusCode == StatusCode.Internal && e.Status.DebugException is HttpRequestException;

    /// <summary>Why a connection could not be made, in words: "connection refused: is migrate-target running there, and listening on that port?".</summary>
    public static string Cause(RpcException e)
    {
        var chain = Chain(e.Status.DebugException).ToList();
        return chain.OfType<SocketException>().FirstOrDefault() switch
        {
            { SocketErrorCode: SocketError.ConnectionRefused } => "connection refused: is migrate-target running there, and listening on that port?",
            { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData } => "no such host",
            { SocketErrorCode: SocketError.TimedOut } => "the connection timed out: check the address and the firewall",
            { SocketErrorCode: SocketError.NetworkUnreachable or SocketError.HostUnreachable } => "no route to the host",
            { SocketErrorCode: SocketError.ConnectionReset } => "the connection was reset",
            { } socket => socket.Message,
            // TLS 1.3 ends the handshake before the server has judged the client's
            // certificate: a refusal arrives as the connection closing after it.
            null when chain.LastOrDefault(inner => inner is IOException or HttpRequestException) is { } closed =>
                $"{closed.Message} (if the target requires client certificates, migrate-target --client-ca, present one its CA signed with --cert)",
            null => e.Status.Detail,
        };
    }

    private static IEnumerable<Exception> Chain(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            yield return e;
        }
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
