namespace Migrate.Engine.Protocol;

/// <summary>What a target's health service said, or why it said nothing.</summary>
/// <param name="IsUp">The agent answers and serves; the handshake may still refuse.</param>
/// <param name="Detail">For a target that is down, why, in words for the operator.</param>
public sealed record TargetHealth(TargetAddress Target, bool IsUp, string Detail)
{
    /// <summary>
    /// How long the health check may take to connect: a host that is down
    /// (or drops packets) is skipped after this, well under the 10 s connect
    /// timeout of the migration's own connection; one that refuses, at once.
    /// </summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How long a connected agent may take to answer. Generous: the first call
    /// into a freshly started agent on a loaded machine was measured here to
    /// take over 3 s (load average 20 on 2 cores), and a slow agent is not a
    /// down one.
    /// </summary>
    public static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(15);
}
