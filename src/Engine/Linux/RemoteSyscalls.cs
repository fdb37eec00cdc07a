using System.Diagnostics;

namespace Migrate.Engine.Linux;

/// <summary>
/// Runs system calls inside another process, in one of its threads, stopped
/// with ptrace while its other threads run on. Nothing of the process is
/// patched: the thread's instruction pointer is moved to a <c>syscall</c>
/// instruction that is already mapped executable (the vDSO has some), the
/// call runs by one single-step, and every register and the signal mask are
/// put back before the thread is let go. CRIU's compel (compel/src/lib/infect.c)
/// writes its own instruction instead, which is safe only when every thread is
/// stopped.
/// </summary>
/// <remarks>
/// What makes it safe for a thread stopped anywhere:
/// <list type="bullet">
/// <item>In a blocking system call: the thread stops in the kernel's signal
/// path before the call is restarted. Its registers are saved there, the
/// injected call runs with orig_rax = -1 so that path does not restart it in
/// the middle of ours, and restoring orig_rax and rax restarts the original
/// call exactly as a signal without handler would (arch/x86/kernel/signal.c,
/// arch_do_signal_or_restart).</item>
/// <item>Signals: a signal pending when the thread is seized is delivered first,
/// as it would have been (compel does the same). While calls run, every signal
/// but SIGTRAP is blocked (blocking SIGTRAP would reset its handler when the
/// single-step forces one, CRIU issue 1429), so those stay pending and arrive
/// after. A signal that stops the thread anyway (SIGSTOP, or a SIGTRAP sent by
/// someone) is held back and given back when the thread is let go, with its
/// siginfo. A fault of the injected instruction itself is not given back.</item>
/// <item>Job control: a thread of a stopped process is run for the calls and
/// stays stopped after: the kernel puts it back in the group stop at detach
/// (kernel/ptrace.c, __ptrace_unlink).</item>
/// </list>
/// Every method runs on the <see cref="TracerThread"/> that seized the thread.
/// If the tracer itself is killed while a call runs, the thread resumes with
/// the call's registers: the window is the single-step, tens of microseconds.
/// </remarks>
internal sealed class RemoteSyscalls
{
    private const int MaxStops = 32;
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);

    private readonly int _tid;
    private readonly ulong _syscallAddress;
    private readonly Interop.UserRegs _saved;
    private readonly List<Interop.SigInfo> _heldSignals = [];
    private bool _inSignalDeliveryStop;
    private bool _exited;

    private RemoteSyscalls(int tid, ulong syscallAddress, Interop.UserRegs saved)
    {
        _tid = tid;
        _syscallAddress = syscallAddress;
        _saved = saved;
    }

    public int Tid => _tid;

    /// <summary>Whether the thread was in a group stop (its process stopped by SIGSTOP or the like) when seized.</summary>
    public bool WasGroupStopped { get; private init; }

    /// <summary>The signals that stopped the thread during the calls, given back when it is let go.</summary>
    public int HeldSignals => _heldSignals.Count;

    /// <summary>
    /// Seizes thread <paramref name="tid"/>, stops it, runs <paramref name="work"/>
    /// with it stopped, puts it back as it was and detaches, whatever
    /// <paramref name="work"/> did or threw.
    /// </summary>
    /// <param name="syscallAddress">Where a <c>syscall</c> instruction (0f 05) is mapped executable in the thread's process.</param>
    /// <exception cref="ThreadDidNotStopException">
    /// It did not stop within <paramref name="stopTimeout"/>; it is still seized, and only ending
    /// the tracer thread lets it go.
    /// </exception>
    /// <exception cref="TraceeExitedException">The thread exited meanwhile.</exception>
    /// <exception cref="LinuxException">ptrace refused (EPERM: not permitted, or traced by another).</exception>
    public static T Run<T>(int tid, ulong syscallAddress, TimeSpan stopTimeout, Func<RemoteSyscalls, T> work)
    {
        Ptrace(Interop.PTRACE_SEIZE, tid, 0, 0, "ptrace(PTRACE_SEIZE)");
        bool groupStopped;
        try
        {
            Ptrace(Interop.PTRACE_INTERRUPT, tid, 0, 0, "ptrace(PTRACE_INTERRUPT)");
            groupStopped = WaitForInterrupt(tid, stopTimeout);
        }
        catch (Exception e) when (e is not ThreadDidNotStopException and not TraceeExitedException)
        {
            TryDetach(tid, 0);
            throw;
        }
        Interop.UserRegs saved;
        ulong mask;
        try
        {
            saved = GetRegs(tid);
            mask = GetSignalMask(tid);
        }
        catch
        {
            TryDetach(tid, 0);
            throw;
        }
        var calls = new RemoteSyscalls(tid, syscallAddress, saved) { WasGroupStopped = groupStopped };
        try
        {
            SetSignalMask(tid, ~(1UL << (Signals.SIGTRAP - 1)));
            return work(calls);
        }
        finally
        {
            calls.Release(mask);
        }
    }

    /// <summary>
    /// Runs system call <paramref name="number"/> in the thread and returns
    /// what it returned: a value, or -errno.
    /// </summary>
    /// <exception cref="InjectedCallFaultedException">The instruction faulted, or signals kept the call from running.</exception>
    /// <exception cref="TraceeExitedException">The thread exited meanwhile (its process was killed).</exception>
    public long Call(long number, long argument1 = 0, long argument2 = 0, long argument3 = 0)
    {
        var registers = _saved;
        registers.Rax = (ulong)number;
        registers.Rdi = (ulong)argument1;
        registers.Rsi = (ulong)argument2;
        registers.Rdx = (ulong)argument3;
        registers.R10 = 0;
        registers.R8 = 0;
        registers.R9 = 0;
        // Not a system call being restarted: the signal path must leave these registers alone.
        registers.OrigRax = ulong.MaxValue;
        registers.Rip = _syscallAddress;
        SetRegs(_tid, registers);
        for (int stop = 0; stop < MaxStops; stop++)
        {
            Ptrace(Interop.PTRACE_SINGLESTEP, _tid, 0, 0, "ptrace(PTRACE_SINGLESTEP)");
            var (exited, info) = WaitForStop(_tid, CallTimeout) ?? throw new InjectedCallFaultedException(
                $"thread {_tid} did not come back from a single-step within {CallTimeout.TotalSeconds:0} s");
            if (exited)
            {
                _exited = true;
                throw new TraceeExitedException(_tid);
            }
            if (IsEventStop(info))
            {
                // A group stop began, or an interrupt was still pending: step again.
                _inSignalDeliveryStop = false;
                continue;
            }
            _inSignalDeliveryStop = true;
            var now = GetRegs(_tid);
            if (info.Signo == Signals.SIGTRAP && info.Code == Interop.TRAP_BRKPT && now.Rip == _syscallAddress + 2)
            {
                return (long)now.Rax;
            }
            if (IsFault(info))
            {
                throw new InjectedCallFaultedException($"the injected call faulted in thread {_tid}: signal {info.Signo}, code {info.Code}, at 0x{now.Rip:x}");
            }
            // Someone else's signal: held, and given back at detach. Stepping on with 0 holds it back.
            _heldSignals.Add(info);
        }
        throw new InjectedCallFaultedException($"thread {_tid} was stopped by {MaxStops} signals in a row");
    }

    /// <summary>A synchronous signal the kernel raised for the instruction it stepped: the injected one.</summary>
    private static bool IsFault(Interop.SigInfo signal) =>
        signal.Code > 0 && signal.Signo is Signals.SIGSEGV or Signals.SIGBUS or Signals.SIGILL or Signals.SIGFPE or Signals.SIGSYS or Signals.SIGTRAP;

    private void Release(ulong mask)
    {
        if (_exited)
        {
            return;
        }
        try
        {
            SetRegs(_tid, _saved);
            SetSignalMask(_tid, mask);
            int give = 0;
            if (_heldSignals.Count > 0 && _inSignalDeliveryStop)
            {
                // Detaching from a signal-delivery stop delivers the signal it names, with the siginfo set here.
                var first = _heldSignals[0];
                SetSignalInfo(_tid, first);
                give = first.Signo;
                _heldSignals.RemoveAt(0);
            }
            Ptrace(Interop.PTRACE_DETACH, _tid, 0, give, "ptrace(PTRACE_DETACH)");
            foreach (var signal in _heldSignals)
            {
                // More than one: the rest are sent again, without their original siginfo.
                Interop.Syscall(Interop.SyscallNumbers.Tgkill, ProcessOf(_tid), _tid, signal.Signo, 0, 0);
            }
        }
        catch (LinuxException e) when (e.Errno == Errno.ESRCH)
        {
            // It died (SIGKILL): nothing is left to put back.
        }
    }

    private static int ProcessOf(int tid) => ProcFs.Status.Read(tid)?.Tgid ?? tid;

    /// <summary>
    /// Waits for the stop PTRACE_INTERRUPT asked for; returns whether it is a group stop.
    /// A signal that arrives first is delivered, as it would have been without us:
    /// the interrupt is still pending and stops the thread right after.
    /// </summary>
    private static bool WaitForInterrupt(int tid, TimeSpan timeout)
    {
        for (int stop = 0; stop < MaxStops; stop++)
        {
            var (exited, info) = WaitForStop(tid, timeout) ?? throw new ThreadDidNotStopException(tid, timeout);
            if (exited)
            {
                throw new TraceeExitedException(tid);
            }
            if (IsEventStop(info))
            {
                return info.Signo is Signals.SIGSTOP or Signals.SIGTSTP or Signals.SIGTTIN or Signals.SIGTTOU;
            }
            Ptrace(Interop.PTRACE_CONT, tid, 0, info.Signo, "ptrace(PTRACE_CONT)");
        }
        throw new InjectedCallFaultedException($"thread {tid} received {MaxStops} signals before it stopped");
    }

    /// <summary>A ptrace stop and its siginfo, or the end of the thread.</summary>
    private readonly record struct Stop(bool Exited, Interop.SigInfo Info);

    /// <summary>Waits until <paramref name="tid"/> is in a ptrace stop or has exited; null when the time ran out.</summary>
    /// <remarks>
    /// The wait status cannot be relied on: when the tracee is also a child of
    /// this process, every waitpid() of this process reports its stops
    /// (kernel/exit.c, wait_consider_task), and the runtime's SIGCHLD handler
    /// waits for the children Process started, taking them. So a stop is
    /// seen by PTRACE_GETSIGINFO succeeding, which it does only in a ptrace
    /// stop. For a seized tracee it also tells the stops apart: an event stop
    /// (PTRACE_INTERRUPT, group stop) has si_code (PTRACE_EVENT_STOP &lt;&lt; 8) | signal
    /// (kernel/signal.c, ptrace_do_notify); any other is a signal-delivery stop.
    /// </remarks>
    private static unsafe Stop? WaitForStop(int tid, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        for (int round = 0; ; round++)
        {
            Interop.SigInfo info;
            if (Interop.Ptrace(Interop.PTRACE_GETSIGINFO, tid, 0, (nint)(&info)) == 0)
            {
                return new Stop(false, info);
            }
            var error = LinuxException.FromLastError("ptrace(PTRACE_GETSIGINFO)", $"thread {tid}");
            if (error.Errno != Errno.ESRCH)
            {
                throw error;
            }
            // Not in a stop: running, or gone. A traced thread that exited stays a zombie until reaped.
            int status;
            if (Interop.WaitPid(tid, &status, Interop.WNOHANG | Interop.__WALL) == tid && Exited(status) ||
                ProcFs.Stat.Read(tid)?.State is null or 'Z' or 'X')
            {
                return new Stop(true, default);
            }
            if (clock.Elapsed > timeout)
            {
                return null;
            }
            // A stop takes microseconds: yield first, then sleep, so a thread that takes long costs no CPU.
            if (round < 200)
            {
                Thread.Yield();
            }
            else
            {
                Thread.Sleep(1);
            }
        }
    }

    private static bool IsEventStop(Interop.SigInfo info) => info.Code >> 8 == Interop.PTRACE_EVENT_STOP;

    // wait status (sys/wait.h): stopped is 0x7f in the low byte.
    private static bool Exited(int status) => (status & 0xff) != 0x7f;

    private static void TryDetach(int tid, int signal)
    {
        if (Interop.Ptrace(Interop.PTRACE_DETACH, tid, 0, signal) != 0)
        {
            // Not stopped, or gone: when it cannot be detached here, the tracer thread's end detaches it.
        }
    }

    private static long Ptrace(int request, int tid, nint address, nint data, string operation) =>
        Interop.CheckIo(Interop.Ptrace(request, tid, address, data), operation, $"thread {tid}");

    private static unsafe Interop.UserRegs GetRegs(int tid)
    {
        Interop.UserRegs registers;
        Ptrace(Interop.PTRACE_GETREGS, tid, 0, (nint)(&registers), "ptrace(PTRACE_GETREGS)");
        return registers;
    }

    private static unsafe void SetRegs(int tid, Interop.UserRegs registers) =>
        Ptrace(Interop.PTRACE_SETREGS, tid, 0, (nint)(&registers), "ptrace(PTRACE_SETREGS)");

    private static unsafe ulong GetSignalMask(int tid)
    {
        ulong mask;
        Ptrace(Interop.PTRACE_GETSIGMASK, tid, sizeof(ulong), (nint)(&mask), "ptrace(PTRACE_GETSIGMASK)");
        return mask;
    }

    private static unsafe void SetSignalMask(int tid, ulong mask) =>
        Ptrace(Interop.PTRACE_SETSIGMASK, tid, sizeof(ulong), (nint)(&mask), "ptrace(PTRACE_SETSIGMASK)");

    private static unsafe void SetSignalInfo(int tid, Interop.SigInfo info) =>
        Ptrace(Interop.PTRACE_SETSIGINFO, tid, 0, (nint)(&info), "ptrace(PTRACE_SETSIGINFO)");
}

/// <summary>A seized thread did not stop in time: it is still traced, until the tracer thread ends.</summary>
internal sealed class ThreadDidNotStopException(int tid, TimeSpan timeout)
    : Exception($"thread {tid} did not stop within {timeout.TotalMilliseconds:0} ms of PTRACE_INTERRUPT")
{
    public int Tid { get; } = tid;
}

/// <summary>The traced thread exited.</summary>
internal sealed class TraceeExitedException(int tid) : Exception($"thread {tid} exited while traced");

/// <summary>An injected system call did not run: the thread was put back as it was.</summary>
internal sealed class InjectedCallFaultedException(string message) : Exception(message);
