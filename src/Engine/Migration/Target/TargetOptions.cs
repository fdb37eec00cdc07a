namespace Migrate.Engine.Migration.Target;

/// <summary>How the target agent stores and limits sessions, and what it agrees to restore.</summary>
public sealed record TargetOptions
{
    public required string WorkDirectory { get; init; }
    public bool KeepImages { get; init; }
    public int MaxChunkBytes { get; init; } = 1 << 20;
    public int MaxFilesPerSet { get; init; } = 100_000;

    /// <summary>The most one session may store: pages (4 KiB for every page held, zero pages included), image sets and rebuilt pages images.</summary>
    public long MaxSessionBytes { get; init; } = 64L << 30;

    /// <summary>The most all sessions together may store.</summary>
    public long MaxTotalBytes { get; init; } = 256L << 30;

    /// <summary>Free space the work directory's file system keeps: data that would eat into it is refused.</summary>
    public long MinFreeDiskBytes { get; init; } = 1L << 30;

    /// <summary>The most sessions open at once (not yet committed or aborted).</summary>
    public int MaxSessions { get; init; } = 32;

    /// <summary>The most bytes of executables and libraries one pre-flight request may make the target hash.</summary>
    public long MaxPreflightHashBytes { get; init; } = 4L << 30;

    /// <summary>Where restored tasks go in the cgroup tree.</summary>
    public RestoredCgroups RestoredCgroups { get; init; } = RestoredCgroups.Source;

    /// <summary>What sources may make this target run.</summary>
    public Compat.RestorePolicy Policy { get; init; } = Compat.RestorePolicy.Default;

    /// <summary>A session that has restored nothing and hears nothing for this long is dropped.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long restored tasks may take to reach the stopped state CRIU leaves them in.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>Where restored tasks go in the cgroup tree.</summary>
public enum RestoredCgroups
{
    /// <summary>Into the cgroups they had on the source, made here if missing (CRIU's default).</summary>
    Source,

    /// <summary>
    /// Into the agent's own: under systemd, the tasks are part of the agent's
    /// unit, which the service manager knows, instead of cgroups of the
    /// source's units made behind its back. The source's cgroup limits do not move.
    /// </summary>
    Agent,
}

public enum TargetSessionState
{
    /// <summary>Receiving pages and images; nothing restored.</summary>
    Open,

    /// <summary>A restore is under way: never dropped for being idle.</summary>
    Restoring,

    /// <summary>The restored tasks exist, stopped, waiting for Commit or Abort.</summary>
    RestoredStopped,

    /// <summary>Committed: the restored tasks run. Final.</summary>
    Resumed,

    /// <summary>Aborted or expired: restored tasks killed, images removed. Final.</summary>
    Aborted,
}

/// <summary>A call came in a state of the session where it makes no sense.</summary>
public sealed class InvalidSessionStateException(string message) : Exception(message);

/// <summary>No session has that ID (never opened, or expired).</summary>
public sealed class SessionNotFoundException(string id)
    : Exception(Protocol.SessionIds.IsValid(id) ? $"no session {id} (never opened, or expired)" : "no session has that ID: it is malformed");
