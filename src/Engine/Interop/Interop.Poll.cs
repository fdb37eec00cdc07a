using System.Runtime.InteropServices;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    private const short POLLIN = 0x1;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>man 2 poll</summary>
    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int PollNative(PollFd* fds, ulong nfds, int timeout);

    /// <summary>
    /// Waits until a pidfd becomes readable, which happens when its process
    /// has terminated (man 2 pidfd_open). Returns false on timeout.
    /// </summary>
    public static unsafe bool WaitForExit(PidfdHandle pidfd, TimeSpan timeout)
    {
        bool added = false;
        pidfd.DangerousAddRef(ref added);
        try
        {
            var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            while (true)
            {
                var fd = new PollFd { Fd = (int)pidfd.DangerousGetHandle(), Events = POLLIN };
                int remaining = (int)Math.Max(0, deadline - Environment.TickCount64);
                int ready = PollNative(&fd, 1, remaining);
                if (ready > 0)
                {
                    return true;
                }
                if (ready == 0)
                {
                    return false;
                }
                if (LastErrno != Errno.EINTR)
                {
                    throw LastError("poll(pidfd)");
                }
            }
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
