using Migrate.Engine.Compat;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Protocol;

/// <summary>
/// A target agent as the source sees it. A session walks: Handshake,
/// Preflight, pages and image sets (pre-copy rounds, then the freeze),
/// Restore, then Commit or Abort, then AwaitPages. The target never resumes a
/// restored process before Commit; Abort kills it.
/// </summary>
/// <remarks>Failures are <see cref="TargetException"/>s that say what happened in words an operator can act on.</remarks>
public interface ITargetAgent : IDisposable
{
    TargetAddress Address { get; }

    /// <summary>
    /// Asks the agent's standard health service whether it serves, on a
    /// connection of its own with a short connect timeout: a target that is
    /// down is known in seconds. Never throws for a target that is down.
    /// </summary>
    Task<TargetHealth> CheckHealthAsync(CancellationToken cancellationToken);

    /// <summary>Opens a session and exchanges host facts; refuses a target that speaks another protocol.</summary>
    Task<TargetHandshake> HandshakeAsync(HostFacts source, CancellationToken cancellationToken);

    /// <summary>The target's side of the pre-flight checks. Freezes nothing.</summary>
    Task<IReadOnlyList<CheckResult>> PreflightAsync(string sessionId, PreflightQuery query, CancellationToken cancellationToken);

    /// <summary>Streams pages found by a scan.</summary>
    Task<PageStreamStats> SendPagesAsync(string sessionId, PageRound round, PageScan scan, IProgress<long>? bytesSent, CancellationToken cancellationToken);

    Task<TransferStats> SendImagesAsync(string sessionId, ImageSetUpload set, IProgress<long>? bytesSent, CancellationToken cancellationToken);

    Task<RestoreResult> RestoreAsync(string sessionId, RestoreOrder order, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Resumes the restored copy. Safe to repeat: a repeated commit gets the first answer, so transport failures are retried.</summary>
    Task<CommitResult> CommitAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>Kills any restored copy and forgets the session; returns how many tasks it killed. Safe to repeat.</summary>
    Task<int> AbortAsync(string sessionId, string reason, CancellationToken cancellationToken);

    /// <summary>Waits, as long as it takes, until a lazily restored process has all its pages.</summary>
    Task<PagesArrival> AwaitPagesAsync(string sessionId, CancellationToken cancellationToken);
}
