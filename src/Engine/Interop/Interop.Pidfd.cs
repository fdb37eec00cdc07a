using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    // pidfd_open and pidfd_send_signal have the same numbers on every
    // architecture (include/uapi/asm-generic/unistd.h).
    private const long SYS_pidfd_send_signal = 424;
    private const long SYS_pidfd_open = 434;

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long arg1, long arg2, long arg3, long arg4);

    /// <summary>man 2 pidfd_open. Returns null when the process does not exist.</summary>
    public static PidfdHandle? PidfdOpen(int pid)
    {
        long fd = Syscall(SYS_pidfd_open, pid, 0, 0, 0);
        if (fd >= 0)
        {
            return new PidfdHandle((int)fd);
        }
        if (LastErrno == Errno.ESRCH)
        {
            return null;
        }
        throw LastError("pidfd_open", $"pid {pid}");
    }

    /// <summary>man 2 pidfd_send_signal. Returns false when the process has exited.</summary>
    public static bool PidfdSendSignal(PidfdHandle pidfd, int signal)
    {
        bool added = false;
        pidfd.DangerousAddRef(ref added);
        try
        {
            if (Syscall(SYS_pidfd_send_signal, pidfd.DangerousGetHandle(), signal, 0, 0) == 0)
            {
                return true;
            }
            if (LastErrno == Errno.ESRCH)
            {
                return false;
            }
            throw LastError("pidfd_send_signal", $"signal {signal}");
        }
        finally
        {
            if (added)
            {
                pidfd.DangerousRelease();
            }
        }
    }
}

/// <summary>A pidfd: names one process for good, even after its PID is reused.</summary>
internal sealed class PidfdHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public PidfdHandle(int fd) : base(ownsHandle: true) => SetHandle(fd);

    protected override bool ReleaseHandle() => Linux.Close((int)handle) == 0;
}
