using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Criu;
using Migrate.Engine.Transfer;
using Migrate.Protocol;

namespace Migrate.Engine.Migration;

/// <summary>The target agent's open sessions.</summary>
public sealed partial class TargetSessions(
    CriuClient criu, CriuFeatureSet features, TargetOptions options, TimeProvider time, ILogger<TargetSessions> logger)
    : IAsyncDisposable
{
    // A finished session is kept this long so that a retried Commit or Abort
    // gets the first answer rather than "no such session".
    private static readonly TimeSpan FinishedRetention = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<string, TargetSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _reportedInDoubt = new(StringComparer.Ordinal);

    public TargetOptions Options { get; } = options;

    public TargetSession Open(HostFacts source)
    {
        var id = SessionIds.NewId();
        var session = new TargetSession(id, source, criu, features, Options, time, logger);
        _sessions[id] = session;
        LogOpened(logger, id, source.Hostname);
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
        var now = time.GetUtcNow();
        foreach (var session in _sessions.Values)
        {
            var idle = now - session.LastActivity;
            switch (session.State)
            {
                case TargetSessionState.Open when idle > Options.IdleTimeout:
                    await session.AbortAsync("idle timeout", cancellationToken).ConfigureAwait(false);
                    break;
                case TargetSessionState.RestoredStopped when idle > Options.IdleTimeout && _reportedInDoubt.TryAdd(session.Id, 0):
                    LogInDoubt(logger, session.Id, (int)idle.TotalMinutes);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} opened by {Source}")]
    private static partial void LogOpened(ILogger logger, string sessionId, string source);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Session {SessionId}: a restored copy has waited {Minutes} min for Commit or Abort; it stays stopped until the source decides (migrate commit/abort)")]
    private static partial void LogInDoubt(ILogger logger, string sessionId, int minutes);
}
