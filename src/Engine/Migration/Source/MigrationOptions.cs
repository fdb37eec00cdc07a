using Migrate.Engine.Compat;
using Migrate.Engine.Criu;

namespace Migrate.Engine.Migration.Source;

/// <summary>What the operator asked for.</summary>
public sealed record MigrationOptions
{
    public required int Pid { get; init; }
    public required string WorkDirectory { get; init; }
    public bool ShellJob { get; init; }
    public bool TcpEstablished { get; init; }

    /// <summary>Connected TCP sockets move shut down: their peers see the connections end (criu --tcp-close).</summary>
    public bool TcpClose { get; init; }

    /// <summary>Connections not yet accepted are left behind; their clients connect again (criu --skip-in-flight).</summary>
    public bool SkipInFlight { get; init; }
    public bool FileLocks { get; init; }
    public bool LinkRemap { get; init; }

    /// <summary>The most a deleted file the tree holds may take on disk: CRIU copies its content into the images (criu --ghost-limit).</summary>
    public uint GhostLimit { get; init; } = CriuDump.DefaultGhostLimit;

    /// <summary>Unix sockets connected to a peer outside the tree are dumped, and connected again by the peer's path on the target (criu --ext-unix-sk).</summary>
    public bool ExternalUnixSockets { get; init; }
    public bool KeepImages { get; init; }
    public PrecopyChoice Precopy { get; init; } = PrecopyChoice.Auto;
    public int MaxRounds { get; init; } = 8;
    public TimeSpan DowntimeTarget { get; init; } = TimeSpan.FromMilliseconds(300);
    public bool RequireConvergence { get; init; }
    public bool LazyRestore { get; init; } = true;
    public UprobePolicy Uprobes { get; init; } = UprobePolicy.Refuse;

    /// <summary>Pre-flight checks whose failure only warns (--ignore-check).</summary>
    public IReadOnlySet<string> IgnoredChecks { get; init; } = new HashSet<string>();

    /// <summary>How many times a freeze that caught a thread in a dangerous spot is tried.</summary>
    public int MaxFreezeAttempts { get; init; } = 6;
    public TimeSpan RestoreTimeout { get; init; } = TimeSpan.FromMinutes(10);
}

public enum PrecopyChoice
{
    Auto,
    SoftDirty,
    ContentHash,
    WriteProtect,
    Off,
}

public enum MigrationStage
{
    Preflight,
    Precopy,
    Dumping,
    Transferring,
    Restoring,
    Committing,
    Resumed,
    RollingBack,
}

/// <summary>A step of the migration, for a progress display: <paramref name="Round"/> when a pre-copy round ends, <paramref name="Scan"/> while it runs.</summary>
public readonly record struct MigrationProgress(
    MigrationStage Stage, long BytesDone = 0, long BytesTotal = 0, Memory.RoundStats? Round = null, Memory.RoundProgress? Scan = null);
