using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    internal const short POLLIN = 0x1;

    /// <summary>struct pollfd (poll.h)</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    /// <summary>man 2 poll</summary>
    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    internal static unsafe partial int Poll(PollFd* fds, ulong count, int timeoutMilliseconds);
}
