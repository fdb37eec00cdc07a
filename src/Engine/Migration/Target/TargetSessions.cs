using System.Collections.Concurrent;
using Migrate.Engine.Compat;
using Migrate.Engine.Credentials;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Target;

/// <summary>A session just opened, and the secret that its opener alone receives.</summary>
public sealed record OpenedSession(TargetSession Session, string Secret);

/// <summary>
/// The target agent's open sessions, and the limits they share. Each belongs
/// to the source that opened it: a call for it must present the secret its
/// handshake returned, and only Commit and Abort also take the operator's
/// secret instead.
/// </summary>
/// <param name="operatorSecret">The agent's operator secret (its operator file).</param>
public sealed class TargetSessions(TargetServices services, string operatorSecret) : IAsyncDisposable
{
    // A finished session is kept this long so that a retried Commit or Abort
    // gets the first answer rather than "no such session".
    private static readonly TimeSpan FinishedRetention = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<string, TargetSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SecretDigest> _secrets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _reportedInDoubt = new(StringComparer.Ordinal);
    private readonly Lock _opening = new();
    private readonly SecretDigest _operator = new(operatorSecret);

    public TargetOptions Options => services.Options;

    public TargetLimits Limits => new(services.Options.MaxChunkBytes, services.Options.MaxSessionBytes);

    /// <summary>What all sessions store, and the free disk they leave.</summary>
    public StorageAllowance Storage { get; } = new("the target's sessions together", services.Options.MaxTotalBytes,
        freeDisk: () => services.Host.AvailableDiskBytes(services.Options.WorkDirectory), diskReserve: services.Options.MinFreeDiskBytes);

    /// <summary>Opens a session, unless as many as the target allows are open (not committed or aborted).</summary>
    public OpenedSession Open(HostFacts source)
    {
        TargetSession session;
        var secret = SessionSecrets.New();
        lock (_opening)
        {
            int open = _sessions.Values.Count(s => s.State is not (TargetSessionState.Resumed or TargetSessionState.Aborted));
            if (open >= Options.MaxSessions)
            {
                throw new TransferRejectedException(TransferRejection.TooLarge,
                    $"this target has {open} sessions open, as many as it allows; try again once one has ended");
            }
            session = new TargetSession(SessionIds.NewId(), source, services, Storage);
            _secrets[session.Id] = new SecretDigest(secret);
            _sessions[session.Id] = session;
        }
        TargetLog.Opened(services.Logger, session.Id, source.Hostname);
        return new OpenedSession(session, secret);
    }

    /// <summary>The session, for its opener: <paramref name="secret"/> must be the one its handshake returned.</summary>
    public TargetSession Get(string id, string? secret)
    {
        var (session, expected) = Find(id);
        return expected.Matches(secret) ? session : throw new SessionAccessDeniedException(id, settling: false);
    }

    /// <summary>The session, to commit or abort it: for its opener, or for the operator of this agent.</summary>
    public TargetSession GetToSettle(string id, string? secret)
    {
        var (session, expected) = Find(id);
        return expected.Matches(secret) || _operator.Matches(secret) ? session : throw new SessionAccessDeniedException(id, settling: true);
    }

    // Open stores the secret before the session, and ExpireAsync removes it
    // after: a session that can be found has its secret.
    private (TargetSession Session, SecretDigest Secret) Find(string id) =>
        SessionIds.IsValid(id) && _sessions.TryGetValue(id, out var session) && _secrets.TryGetValue(id, out var secret)
            ? (session, secret)
            : throw new SessionNotFoundException(id);

    /// <summary>
    /// Drops sessions that restored nothing and went quiet, and forgets
    /// finished ones. A restored, stopped copy is never dropped: only the
    /// source knows whether it already killed its own copy.
    /// </summary>
    public async Task ExpireAsync(CancellationToken cancellationToken)
    {
        var now = services.Time.GetUtcNow();
        foreach (var session in _sessions.Values)
        {
            var idle = now - session.LastActivity;
            switch (session.State)
            {
                case TargetSessionState.Open when idle > Options.IdleTimeout:
                    await session.ExpireIfIdleAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case TargetSessionState.RestoredStopped when idle > Options.IdleTimeout && _reportedInDoubt.TryAdd(session.Id, 0):
                    TargetLog.InDoubt(services.Logger, session.Id, (int)idle.TotalMinutes);
                    break;
                case TargetSessionState.Resumed or TargetSessionState.Aborted when idle > FinishedRetention && session.IsSettled:
                    if (_sessions.TryRemove(session.Id, out _))
                    {
                        _secrets.TryRemove(session.Id, out _);
                        _reportedInDoubt.TryRemove(session.Id, out _);
                        await session.DisposeAsync().ConfigureAwait(false);
                    }
                    break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var session in _sessions.Values)
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }
    }
}
