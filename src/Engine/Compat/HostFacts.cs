using Migrate.Engine.Criu;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>What one host tells its peer so that the peer can judge whether a process can move between them.</summary>
public sealed record HostFacts
{
    public required string Hostname { get; init; }
    public required string KernelRelease { get; init; }
    public required string CriuVersion { get; init; }

    /// <summary>As uname -m names it.</summary>
    public required string Architecture { get; init; }
    public required CriuFeatureSet CriuFeatures { get; init; }

    /// <summary>CRIU's description of this host's CPU (criu cpuinfo dump), for the peer's cpuinfo check.</summary>
    public required ReadOnlyMemory<byte> CpuinfoImage { get; init; }
    public required VdsoLayout Vdso { get; init; }

    /// <summary>The kernel has uprobes and tracefs shows them.</summary>
    public bool UprobesSupported { get; init; }

    /// <summary>The capabilities root can hold here (CapBnd of /proc/self/status).</summary>
    public ulong CapabilityBoundingSet { get; init; }

    /// <summary>Free memory (MemAvailable), for placing processes.</summary>
    public ulong MemoryAvailableBytes { get; init; }

    /// <summary>The agent's build (BuildInfo.Version), so that a refusal can name both; empty from builds that predate it.</summary>
    public string MigrateVersion { get; init; } = "";

    /// <summary>The running kernel's boot ID (/proc/sys/kernel/random/boot_id): equal on both sides when they share one kernel; empty if unknown.</summary>
    public string BootId { get; init; } = "";
}

/// <summary>
/// The vDSO as the running kernel maps it: what CRIU compares to decide
/// whether a restored process needs a proxy vDSO (criu/vdso.c).
/// </summary>
/// <param name="VvarSize">[vvar] and [vvar_vclock] together.</param>
/// <param name="VvarFirst">[vvar] lies below [vdso].</param>
public sealed record VdsoLayout(ulong VdsoSize, ulong VvarSize, bool VvarFirst, IReadOnlyList<VdsoSymbol> Symbols)
{
    public static readonly VdsoLayout Empty = new(0, 0, false, []);
}

public sealed record VdsoSymbol(string Name, ulong Offset, ulong Size);

/// <summary>A file the process maps or holds open, as the source sees it, to compare with the target's.</summary>
/// <param name="ContentHash">XxHash128 of the content, for executables and libraries; empty otherwise.</param>
/// <param name="Writable">Open for writing: it changes while the process runs, so only its presence is compared before the freeze.</param>
/// <param name="LinkTarget">
/// The path is a symbolic link the process holds itself (opened O_PATH | O_NOFOLLOW):
/// what the link says. Null for every other path, which the kernel names resolved.
/// </param>
/// <param name="Locked">
/// Set when the tree holds a lock or lease on it (flock, POSIX, OFD or lease; a "lock:" line in /proc/PID/fdinfo):
/// the locked file as the source's kernel names it.
/// </param>
public sealed record FileFact(string Path, ulong Size, long MtimeNs, ReadOnlyMemory<byte> ContentHash, bool Writable, bool Directory, string? LinkTarget = null,
    FileIdentity? Locked = null);

/// <summary>A breakpoint byte (int3) in a private copy of a file's code page.</summary>
/// <param name="Address">Where the process sees it.</param>
/// <param name="OriginalByte">The file's own byte there.</param>
/// <param name="Symbol">ELF symbol plus offset, when the file names one; empty otherwise.</param>
public sealed record UprobeSite(int Pid, ulong Address, string Path, ulong FileOffset, byte OriginalByte, string Symbol);
