using Microsoft.Extensions.Logging;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Source;

/// <summary>What the source's phases log: decisions at Information and Debug, trouble at Warning and Error.</summary>
internal static partial class SourceLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Migration of {Pid} refused: {Reason}")]
    public static partial void Refused(ILogger logger, int pid, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Pre-copy of {Pid}: {Mode}, because {Reason}")]
    public static partial void PrecopyModeChosen(ILogger logger, int pid, PrecopyMode mode, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Pre-copy round {Round}: {DirtyPages} dirty pages in {DurationMs:0.0} ms; stop: {Stop}")]
    public static partial void Round(ILogger logger, int round, long dirtyPages, double durationMs, PrecopyStop? stop);

    [LoggerMessage(Level = LogLevel.Debug, Message = "CRIU dumped {Pid} in {DumpMs:0.0} ms; it holds the tasks frozen")]
    public static partial void Dumped(ILogger logger, int pid, double dumpMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "The target restored {Pid}, stopped, in {RestoreMs:0.0} ms")]
    public static partial void Restored(ILogger logger, int pid, double restoreMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Freezing {Pid} again: {Hazards}")]
    public static partial void FreezeAgain(ILogger logger, int pid, string hazards);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rolling back the migration of {Pid}: {Reason}")]
    public static partial void RollingBack(ILogger logger, int pid, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Commit of session {SessionId}: CRIU's images of {Pid} list {Count} tasks")]
    public static partial void DumpedTasks(ILogger logger, string sessionId, int pid, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Commit of session {SessionId}: {Count} stopped tasks pinned by pidfd; killing them is the commit point")]
    public static partial void Pinned(ILogger logger, string sessionId, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Commit point: the source copy of {Pid} is killed; session {SessionId} holds the only copy")]
    public static partial void CommitPoint(ILogger logger, int pid, string sessionId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Commit of session {SessionId}: the connections left CRIU's network lock for a quarantine that expires by itself")]
    public static partial void Quarantined(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Commit of session {SessionId}: asking the target {Target} to resume its copy")]
    public static partial void Committing(ILogger logger, string sessionId, TargetAddress target);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {SessionId} committed: PID {RootPid} runs on the target, {ResumeMs:0.0} ms after the commit point")]
    public static partial void Resumed(ILogger logger, string sessionId, int rootPid, double resumeMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {SessionId}: the target's lazy-pages daemon {Result}, {LastPageMs:0.0} ms after the resume")]
    public static partial void PagesArrived(ILogger logger, string sessionId, string result, double lastPageMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Roll-back of session {SessionId}: {Count} tasks of {Pid} resumed on the source")]
    public static partial void ResumedHere(ILogger logger, string sessionId, int pid, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Roll-back of session {SessionId}: the connections are let through again")]
    public static partial void Unlocked(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Commit of session {SessionId} did not reach the target: {Reason}")]
    public static partial void CommitLost(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source copy killed but not yet gone: {Reason}")]
    public static partial void SlowKill(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CRIU's network-lock table stays on this host: {Reason}")]
    public static partial void NetworkLockStays(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Abort of session {SessionId} not delivered: {Reason}")]
    public static partial void AbortNotDelivered(ILogger logger, string sessionId, string reason);
}
