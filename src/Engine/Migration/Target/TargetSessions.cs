using System.Collections.Concurrent;
using Migrate.Engine.Compat;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Target;

/// <summary>The target agent's open sessions.</summary>
public sealed class TargetSessions(TargetServices services) : IAsyncDisposable
{
    // A finished session is kept this long so that a retried Commit or Abort
    // gets the first answer rather than "no such session".
    private static readonly TimeSpan FinishedRetention = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<string, TargetSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _reportedInDoubt = new(StringComparer.Ordinal);

    public TargetOptions Options => services.Options;

    public TargetLimits Limits => new(services.Options.MaxChunkBytes, services.Options.MaxSessionBytes);

    public TargetSession Open(HostFacts source)
    {
        var id = SessionIds.NewId();
        var session = new TargetSession(id, source, services);
        _sessions[id] = session;
        TargetLog.Opened(services.Logger, id, source.Hostname);
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
