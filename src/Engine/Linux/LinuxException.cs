using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

/// <summary>
/// A system call failed. Says which call, on what (a path, a PID), and the
/// errno; <see cref="Exception.HResult"/> is the errno too, as the runtime's
/// own IOExceptions carry it on Linux.
/// </summary>
public sealed class LinuxException : IOException
{
    public LinuxException(string operation, string? subject, Errno errno)
        : base($"{operation}{(subject is null ? "" : " " + subject)}: {Marshal.GetPInvokeErrorMessage((int)errno)} ({Name(errno)})", (int)errno)
    {
        Operation = operation;
        Subject = subject;
        Errno = errno;
    }

    /// <summary>The call that failed, as <c>ptrace(PTRACE_SEIZE)</c> or <c>open</c>.</summary>
    public string Operation { get; }

    /// <summary>What it was made on, as <c>pid 1234</c> or a path; null when nothing more is to say.</summary>
    public string? Subject { get; }

    public Errno Errno { get; }

    internal static LinuxException FromLastError(string operation, string? subject = null) =>
        new(operation, subject, (Errno)Marshal.GetLastPInvokeError());

    private static string Name(Errno errno) => Enum.IsDefined(errno) ? errno.ToString() : $"errno {(int)errno}";
}
