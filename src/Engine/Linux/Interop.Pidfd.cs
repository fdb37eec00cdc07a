namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    /// <summary>man 2 pidfd_open. Returns the new descriptor, or -1.</summary>
    internal static int PidfdOpen(int pid, uint flags) => (int)Syscall(SyscallNumbers.PidfdOpen, pid, flags, 0, 0, 0);

    /// <summary>man 2 pidfd_send_signal</summary>
    internal static int PidfdSendSignal(PidfdHandle pidfd, int signal) => (int)Syscall(SyscallNumbers.PidfdSendSignal, pidfd, signal, 0, 0, 0);

    /// <summary>man 2 pidfd_getfd. Returns a duplicate, in this process, of descriptor <paramref name="targetFd"/> of the pidfd's process, or -1.</summary>
    internal static int PidfdGetfd(PidfdHandle pidfd, int targetFd) => (int)Syscall(SyscallNumbers.PidfdGetfd, pidfd, targetFd, 0, 0, 0);
}
