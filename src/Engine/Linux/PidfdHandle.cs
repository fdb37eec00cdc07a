namespace Migrate.Engine.Linux;

/// <summary>A pidfd: names one process for good, even after its PID is reused (man 2 pidfd_open).</summary>
internal sealed class PidfdHandle : DescriptorHandle
{
    private PidfdHandle(int fd, int pid)
        : base(fd) => Pid = pid;

    /// <summary>The PID it was opened for, for messages.</summary>
    public int Pid { get; }

    /// <summary>Opens a pidfd for <paramref name="pid"/>, or returns null when there is no such process.</summary>
    public static PidfdHandle? Open(int pid)
    {
        int fd = Interop.PidfdOpen(pid, flags: 0);
        if (fd >= 0)
        {
            return new PidfdHandle(fd, pid);
        }
        var error = LinuxException.FromLastError("pidfd_open", $"pid {pid}");
        return error.Errno == Errno.ESRCH ? null : throw error;
    }

    /// <summary>man 2 pidfd_send_signal. Returns false when the process has exited.</summary>
    public bool SendSignal(int signal)
    {
        if (Interop.PidfdSendSignal(this, signal) == 0)
        {
            return true;
        }
        var error = LinuxException.FromLastError("pidfd_send_signal", $"signal {signal} to pid {Pid}");
        return error.Errno == Errno.ESRCH ? false : throw error;
    }

    /// <summary>
    /// Waits until the process has terminated, which makes a pidfd readable
    /// (man 2 pidfd_open). Returns false on timeout.
    /// </summary>
    public unsafe bool WaitForExit(TimeSpan timeout)
    {
        bool added = false;
        DangerousAddRef(ref added);
        try
        {
            var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            while (true)
            {
                var fd = new Interop.PollFd { Fd = Number, Events = Interop.POLLIN };
                int remaining = (int)Math.Max(0, deadline - Environment.TickCount64);
                int ready = Interop.Poll(&fd, 1, remaining);
                if (ready >= 0)
                {
                    return ready > 0;
                }
                var error = LinuxException.FromLastError("poll", $"pidfd of pid {Pid}");
                if (error.Errno != Errno.EINTR)
                {
                    throw error;
                }
            }
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>Whether the process has terminated, without waiting.</summary>
    public bool HasExited => WaitForExit(TimeSpan.Zero);
}
