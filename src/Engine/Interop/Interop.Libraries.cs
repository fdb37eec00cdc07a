using System.Runtime.InteropServices;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    private const string Libc = "libc";

    /// <summary>Turns the errno of the last call into an exception that names what failed.</summary>
    internal static IOException LastError(string operation, string? subject = null)
    {
        int errno = Marshal.GetLastPInvokeError();
        string what = subject is null ? operation : $"{operation} {subject}";
        return new IOException($"{what}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
    }

    internal static int LastErrno => Marshal.GetLastPInvokeError();
}

/// <summary>errno values the engine reacts to (asm-generic/errno-base.h).</summary>
internal static class Errno
{
    public const int EPERM = 1;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int ECHILD = 10;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EFAULT = 14;
    public const int EEXIST = 17;
    public const int ENOSPC = 28;
}
