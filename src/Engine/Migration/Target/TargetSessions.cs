using System.Collections.Concurrent;
using Migrate.Engine.Compat;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Target;

/// <summary>The target agent's open sessions, and the limits they share.</summary>
public sealed class TargetSessions(TargetServices services) : IAsyncDisposable
{
    // A finished session is kept this long so that a retried Commit or Abort
    // gets the first answer rather than "no such session".
    private static readonly TimeSpan FinishedRetention = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<string, TargetSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _reportedInDoubt = new(StringComparer.Ordinal);
    private readonly Lock _opening = new();

    public TargetOptions Options => services.Options;

    public TargetLimits Limits => new(services.Options.MaxChunkBytes, services.Options.MaxSessionBytes);

    /// <summary>What all sessions store, and the free disk they leave.</summary>
    public StorageAllowance Storage { get; } = new("the target's sessions together", services.Options.MaxTotalBytes,
        freeDisk: () => services.Host.AvailableDiskBytes(services.Options.WorkDirectory), diskReserve: services.Options.MinFreeDiskBytes);

    /// <summary>Opens a session, unless as many as the target allows are open (not committed or aborted).</summary>
    public TargetSession Open(HostFacts source)
    {
        TargetSession session;
        lock (_opening)
        {
            int open = _sessions.Values.Count(s => s.State is not (TargetSessionState.Resumed or TargetSessionState.Aborted));
            if (open >= Options.MaxSessions)
            {
                throw new TransferRejectedException(TransferRejection.TooLarge,
                    $"this target has {open} sessions open, as many as it allows; try again once one has ended");
            }
            session = new TargetSession(SessionIds.NewId(), source, services, Storage);
            _sessions[session.Id] = session;
        }
        TargetLog.Opened(services.Logger, session.Id, source.Hostname);
        return session;
    }

    public TargetSession Get(string id) =>
        SessionIds.IsValid(id) && _sessions.TryGetValue(id, out var session) ? session : throw new SessionNotFoundException(id);

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
