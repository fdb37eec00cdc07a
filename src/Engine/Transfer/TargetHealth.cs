namespace Migrate.Engine.Transfer;

/// <summary>What a target's health service said, or why it said nothing.</summary>
/// <param name="IsUp">The agent answers and serves; the handshake may still refuse.</param>
/// <param name="Detail">For a target that is down, why, in words for the operator.</param>
public sealed record TargetHealth(TargetAddress Target, bool IsUp, string Detail)
{
    /// <summary>
    /// A health check is one tiny call: an agent that is up answers it within
    /// milliseconds, even loaded. Well under the 10 s connect timeout, so a host
    /// that drops packets is skipped fast.
    /// </summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);
}
