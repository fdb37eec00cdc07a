using Microsoft.Extensions.Logging;

namespace Migrate.Engine.Migration.Target;

/// <summary>What the target's sessions log; every line about a session names it.</summary>
internal static partial class TargetLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} opened by {Source}")]
    public static partial void Opened(ILogger logger, string sessionId, string source);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {SessionId}: {From} -> {To}")]
    public static partial void StateChanged(ILogger logger, string sessionId, TargetSessionState from, TargetSessionState to);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: received set {Set}, {Files} files, {Bytes} bytes")]
    public static partial void Received(ILogger logger, string sessionId, string set, int files, long bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: restored root {Pid} and {Count} tasks {How}, stopped")]
    public static partial void Restored(ILogger logger, string sessionId, int pid, int count, string how);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: committed, {Pid} resumed")]
    public static partial void Committed(ILogger logger, string sessionId, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: aborted ({Reason}), {Killed} restored tasks killed")]
    public static partial void Aborted(ILogger logger, string sessionId, string reason, int killed);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Session {SessionId}: the lazy-pages daemon failed after the resume, before every page arrived: pages it had not copied read as zeros, so the process's memory may be corrupt. Its images stay in {Directory}. {Errors}")]
    public static partial void LazyPagesFailed(ILogger logger, string sessionId, string directory, string errors);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Session {SessionId}: the lazy-pages daemon died before the resume ({Errors}); restoring again with all memory loaded")]
    public static partial void LazyPagesDiedBeforeResume(ILogger logger, string sessionId, string errors);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Session {SessionId}: a restored copy has waited {Minutes} min for Commit or Abort; it stays stopped until the source decides (migrate commit/abort)")]
    public static partial void InDoubt(ILogger logger, string sessionId, int minutes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Removed session {SessionId}'s directory {Directory}, left by an agent that stopped before the session ended")]
    public static partial void LeftoverRemoved(ILogger logger, string sessionId, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}'s directory {Directory} is left from an earlier run; kept (--keep-images)")]
    public static partial void LeftoverKept(ILogger logger, string sessionId, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Images kept for the operator in {Directory} (a lazy-pages daemon failed after a resume); remove it when done")]
    public static partial void KeptImagesFound(ILogger logger, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Path} in the work directory is not the agent's; left alone")]
    public static partial void ForeignEntryFound(ILogger logger, string path);
}
