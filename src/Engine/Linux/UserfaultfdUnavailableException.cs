namespace Migrate.Engine.Linux;

/// <summary>Why a process's writes cannot be tracked with a userfaultfd: the caller falls back to content hashing.</summary>
public enum WriteTrackingProblem
{
    /// <summary>The kernel lacks userfaultfd write-protect (asynchronous, with PTE markers) or PAGEMAP_SCAN: Linux 6.7 or newer is needed.</summary>
    KernelUnsupported,

    /// <summary>System calls are injected with x86-64 registers only.</summary>
    UnsupportedArchitecture,

    /// <summary>The process has a seccomp filter: it may kill the process for the injected call, so none is made.</summary>
    Seccomp,

    /// <summary>Another tracer (a debugger, CRIU) traces it.</summary>
    AlreadyTraced,

    /// <summary>ptrace or pidfd_getfd was refused (capabilities, Yama ptrace_scope, an LSM).</summary>
    PermissionDenied,

    /// <summary>No executable <c>syscall</c> instruction was found in its memory to run the call at.</summary>
    NoSyscallInstruction,

    /// <summary>None of its threads stopped in time (all in uninterruptible sleep, or a vfork parent).</summary>
    NotStopped,

    /// <summary>userfaultfd() itself failed inside the process.</summary>
    CallFailed,

    /// <summary>The injected call was interrupted by a fault or by too many signals.</summary>
    Interrupted,
}

/// <summary>A process's writes cannot be tracked by userfaultfd write-protect; the process is untouched.</summary>
public sealed class UserfaultfdUnavailableException(int pid, WriteTrackingProblem problem, string detail, Exception? inner = null)
    : Exception($"pid {pid}: write tracking by userfaultfd is not available: {detail}", inner)
{
    public int Pid { get; } = pid;

    public WriteTrackingProblem Problem { get; } = problem;
}
