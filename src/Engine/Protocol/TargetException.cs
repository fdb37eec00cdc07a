using Migrate.Engine.Compat;

namespace Migrate.Engine.Protocol;

/// <summary>How a call to the target failed.</summary>
public enum TargetFailure
{
    /// <summary>No connection, or it broke: the target agent is down, unreachable or restarted.</summary>
    Unreachable,

    /// <summary>The target refused the token, or the session's secret.</summary>
    Unauthenticated,

    /// <summary>
    /// The TLS handshake failed: the target's certificate is not the one the
    /// credentials name, or the target refused ours. Nothing was sent to it.
    /// </summary>
    Untrusted,

    /// <summary>The target did not answer in time.</summary>
    TimedOut,

    /// <summary>The target answered, and refused the request; <see cref="TargetException.FailedCheck"/> may name the check.</summary>
    Refused,

    /// <summary>The target does not know the session: never opened, or expired.</summary>
    SessionNotFound,

    /// <summary>The target speaks another protocol version.</summary>
    ProtocolMismatch,

    /// <summary>The target's answer breaks the protocol (a malformed ID, counts that do not match).</summary>
    BadAnswer,
}

/// <summary>A call to the target failed; the message says why in words an operator can act on.</summary>
public sealed class TargetException(TargetFailure failure, string message, Exception? inner = null, CheckResult? failedCheck = null)
    : Exception(message, inner)
{
    public TargetFailure Failure { get; } = failure;

    /// <summary>The check that refused a restore, when the target named one.</summary>
    public CheckResult? FailedCheck { get; } = failedCheck;

    /// <summary>A failure of the transport, not an answer of the target: the same call may succeed if tried again.</summary>
    public bool IsTransient => Failure is TargetFailure.Unreachable or TargetFailure.TimedOut;
}
