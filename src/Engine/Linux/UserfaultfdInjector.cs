using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

/// <summary>
/// Gives this process a userfaultfd bound to another process's memory. A
/// userfaultfd serves the memory of the process that created it, so
/// <c>userfaultfd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY)</c> is run
/// inside the target (<see cref="RemoteSyscalls"/>), taken with pidfd_getfd,
/// and the target's copy is closed by a second injected <c>close</c>.
/// </summary>
/// <remarks>
/// The injected call runs with the target's credentials. Without
/// CAP_SYS_PTRACE, and with vm.unprivileged_userfaultfd at 0 as here, a plain
/// userfaultfd() fails with EPERM; UFFD_USER_MODE_ONLY is always allowed
/// (fs/userfaultfd.c, userfaultfd_syscall_allowed). It costs nothing here:
/// in asynchronous write-protect mode the kernel resolves every fault itself,
/// kernel-mode ones (a read() into a protected page) included, without ever
/// reaching the check that mode adds (measured for a process of nobody).
/// </remarks>
internal static class UserfaultfdInjector
{
    private static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(1);
    private const int ThreadsTried = 3;

    /// <summary>Creates a userfaultfd in <paramref name="pid"/> and returns this process's copy of it.</summary>
    /// <param name="pidfd">The process, held so that its PID cannot be reused meanwhile.</param>
    /// <param name="ours">Userfaultfds this tracker holds: copies of them a child inherited (it forked while one was open in it) are closed too.</param>
    /// <exception cref="UserfaultfdUnavailableException">Why not; the process is left as it was.</exception>
    /// <exception cref="TraceeExitedException">The process exited.</exception>
    public static UserfaultfdHandle Create(int pid, PidfdHandle pidfd, IEnumerable<UserfaultfdHandle> ours, TimeSpan? stopTimeout = null)
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            throw new UserfaultfdUnavailableException(pid, WriteTrackingProblem.UnsupportedArchitecture,
                $"system calls are injected with x86-64 registers, and this is {RuntimeInformation.ProcessArchitecture}");
        }
        var status = ProcFs.Status.Read(pid) ?? throw new TraceeExitedException(pid);
        if (status.Seccomp is > 0)
        {
            throw new UserfaultfdUnavailableException(pid, WriteTrackingProblem.Seccomp,
                $"it runs under seccomp (mode {status.Seccomp}), which could refuse the injected userfaultfd() or kill the process for it");
        }
        if (status.TracerPid is > 0)
        {
            throw new UserfaultfdUnavailableException(pid, WriteTrackingProblem.AlreadyTraced, $"process {status.TracerPid} traces it");
        }
        var areas = ProcFs.Maps.Read(pid);
        ulong syscall = SyscallInstructions.Find(pid, areas) ?? throw new UserfaultfdUnavailableException(pid, WriteTrackingProblem.NoSyscallInstruction,
            "no syscall instruction (0f 05) is mapped executable in it");
        var inherited = InheritedCopies(pid, ours);
        var threads = ProcFs.Threads(pid).Where(tid => ProcFs.Stat.Read(tid)?.State is not (null or 'Z' or 'X')).Take(ThreadsTried).ToList();
        var notStopped = new List<int>();
        foreach (var tid in threads)
        {
            // A tracer thread of its own for each attempt: when the attempt ends, so does any trace it left.
            using var tracer = new TracerThread();
            try
            {
                return tracer.Run(() => RemoteSyscalls.Run(tid, syscall, stopTimeout ?? DefaultStopTimeout, calls => CreateIn(calls, pid, pidfd, inherited)));
            }
            catch (ThreadDidNotStopException)
            {
                notStopped.Add(tid);
            }
            catch (TraceeExitedException) when (!pidfd.HasExited)
            {
                // That thread ended; another may do.
            }
            catch (LinuxException e) when (e.Errno == Errno.EPERM)
            {
                throw new UserfaultfdUnavailableException(pid, WriteTrackingProblem.PermissionDenied, e.Message, e);
            }
            catch (InjectedCallFaultedException e)
            {
                throw new UserfaultfdUnavailableException(pid, WriteTrackingProblem.Interrupted, e.Message, e);
            }
        }
        if (pidfd.HasExited)
        {
            throw new TraceeExitedException(pid);
        }
        throw new UserfaultfdUnavailableException(pid, WriteTrackingProblem.NotStopped,
            $"threads {string.Join(", ", notStopped)} did not stop within {(stopTimeout ?? DefaultStopTimeout).TotalMilliseconds:0} ms");
    }

    private static UserfaultfdHandle CreateIn(RemoteSyscalls calls, int pid, PidfdHandle pidfd, IReadOnlyList<int> inherited)
    {
        foreach (int fd in inherited)
        {
            calls.Call(Interop.SyscallNumbers.Close, fd);
        }
        long created = calls.Call(Interop.SyscallNumbers.Userfaultfd, Interop.O_CLOEXEC | Interop.O_NONBLOCK | Interop.UFFD_USER_MODE_ONLY);
        if (created < 0)
        {
            var errno = (Errno)(-created);
            throw new UserfaultfdUnavailableException(pid, WriteTrackingProblem.CallFailed,
                $"userfaultfd() failed inside it: {Marshal.GetPInvokeErrorMessage((int)errno)} ({errno})");
        }
        int theirs = (int)created;
        int copy = Interop.PidfdGetfd(pidfd, theirs);
        var error = copy < 0 ? LinuxException.FromLastError("pidfd_getfd", $"fd {theirs} of pid {pid}") : null;
        var handle = copy >= 0 ? new UserfaultfdHandle(copy, pid) : null;
        // Their copy is closed only if it still is the userfaultfd: another thread may have closed it and opened another file.
        if (handle is null || IsSameFile(pid, theirs, handle))
        {
            calls.Call(Interop.SyscallNumbers.Close, theirs);
        }
        return handle ?? throw (error!.Errno == Errno.EPERM
            ? new UserfaultfdUnavailableException(pid, WriteTrackingProblem.PermissionDenied, error.Message, error)
            : error);
    }

    /// <summary>The descriptors of <paramref name="pid"/> that are one of <paramref name="ours"/>: inherited by a fork while the parent held the injected one.</summary>
    private static List<int> InheritedCopies(int pid, IEnumerable<UserfaultfdHandle> ours)
    {
        var userfaultfds = ProcFs.OpenFiles(pid).Where(file => file.Target == "anon_inode:[userfaultfd]").Select(file => file.Fd).ToList();
        return userfaultfds.Count == 0 ? [] : userfaultfds.Where(fd => ours.Any(handle => IsSameFile(pid, fd, handle))).ToList();
    }

    /// <summary>man 2 kcmp, KCMP_FILE: descriptor <paramref name="fd"/> of <paramref name="pid"/> is the open file <paramref name="handle"/> is.</summary>
    private static bool IsSameFile(int pid, int fd, UserfaultfdHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            return Interop.Kcmp(Environment.ProcessId, pid, Interop.KCMP_FILE, handle.Number, fd) == 0;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }
}
