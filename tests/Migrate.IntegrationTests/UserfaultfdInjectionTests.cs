using System.Diagnostics;
using Migrate.Engine.Linux;
using Migrate.IntegrationTests.Infrastructure;
using ProcFs = Migrate.IntegrationTests.Infrastructure.ProcFs;

namespace Migrate.IntegrationTests;

/// <summary>
/// userfaultfd() run inside real processes by ptrace, wherever their threads
/// are: every process goes on as if nothing happened, holds no userfaultfd
/// and is traced by no one afterwards, and this process holds one bound to
/// the process's memory.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class UserfaultfdInjectionTests(Workloads workloads)
{
    [Fact]
    public async Task Threads_spinning_in_one_loop_go_on_through_many_injections()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        await shifter.CommandAsync("threads 3");

        for (int i = 0; i < 50; i++)
        {
            using var uffd = Inject(shifter.Pid);
            Assert.Equal(shifter.Pid, uffd.Pid);
        }

        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_thread_blocked_in_read_returns_what_it_reads_later_and_never_EINTR()
    {
        using var shifter = await Shifter.StartAsync(workloads, "read");

        using (Inject(shifter.Pid))
        {
        }
        await shifter.CommandAsync("unblock after-injection");

        await StatusFile.WaitBeyondAsync(Path.Combine(shifter.Directory, "status"), "reads", 0, "the blocked read to return");
        Assert.Equal("after-injection", shifter.Status()!["last_read"]);
        Assert.Equal(0ul, shifter.Value("eintr"));
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_thread_in_nanosleep_sleeps_its_whole_second()
    {
        using var shifter = await Shifter.StartAsync(workloads, "sleep");

        for (int i = 0; i < 10; i++)
        {
            using var uffd = Inject(shifter.Pid);
        }

        Assert.Equal(0ul, shifter.Value("early"));
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_thread_in_a_signal_handler_finishes_it_afterwards()
    {
        using var shifter = await Shifter.StartAsync(workloads, "handler");

        using (Inject(shifter.Pid))
        {
        }
        Assert.Equal(0ul, shifter.Value("handled"));
        await shifter.CommandAsync("release");

        await StatusFile.WaitBeyondAsync(Path.Combine(shifter.Directory, "status"), "handled", 0, "the handler to return");
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_process_of_nobody_gets_a_userfaultfd_too()
    {
        Assert.Equal("0", File.ReadAllText("/proc/sys/vm/unprivileged_userfaultfd").Trim());
        using var shifter = await Shifter.StartAsync(workloads, "spin", user: Nobody);

        using (Inject(shifter.Pid))
        {
        }

        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_stopped_process_stays_stopped()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        Signal("STOP", shifter.Pid);
        await Eventually.WaitAsync(() => ProcFs.State(shifter.Pid) == 'T', "the shifter to stop");

        using (Inject(shifter.Pid))
        {
        }

        Assert.Equal('T', ProcFs.State(shifter.Pid));
        Signal("CONT", shifter.Pid);
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_seccomp_filter_makes_it_unavailable_and_leaves_the_process_alone()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        await shifter.CommandAsync("seccomp");

        var e = Assert.Throws<UserfaultfdUnavailableException>(() => Inject(shifter.Pid));

        Assert.Equal(WriteTrackingProblem.Seccomp, e.Problem);
        Assert.Equal(shifter.Pid, e.Pid);
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_signal_sent_while_the_thread_is_held_arrives_once_after()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");

        long pid = RunInMainThread(shifter, calls =>
        {
            Signal("USR2", shifter.Pid, thread: true);
            return calls.Call(SysGetpid);
        });

        Assert.Equal(shifter.Pid, pid);
        await StatusFile.WaitBeyondAsync(Path.Combine(shifter.Directory, "status"), "usr2", 0, "SIGUSR2 to be handled");
        await shifter.WaitForSpinsAsync();
        Assert.Equal(1ul, shifter.Value("usr2"));
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_SIGSTOP_that_stops_the_injected_call_is_given_back()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");

        int held = -1;
        long pid = RunInMainThread(shifter, calls =>
        {
            Signal("STOP", shifter.Pid, thread: true);
            long result = calls.Call(SysGetpid);
            held = calls.HeldSignals;
            return result;
        });

        Assert.Equal(shifter.Pid, pid);
        Assert.Equal(1, held);
        await Eventually.WaitAsync(() => ProcFs.State(shifter.Pid) == 'T', "the given-back SIGSTOP to stop the shifter");
        Signal("CONT", shifter.Pid);
        await AssertUntouchedAsync(shifter);
    }

    private const long SysGetpid = 39;

    /// <summary>nobody and nogroup, Debian's 65534.</summary>
    internal const int Nobody = 65534;

    private static UserfaultfdHandle Inject(int pid)
    {
        using var pidfd = PidfdHandle.Open(pid)!;
        return UserfaultfdInjector.Create(pid, pidfd, []);
    }

    private static long RunInMainThread(Shifter shifter, Func<RemoteSyscalls, long> work)
    {
        var areas = Migrate.Engine.Linux.ProcFs.Maps.Read(shifter.Pid);
        ulong syscall = SyscallInstructions.Find(shifter.Pid, areas)!.Value;
        using var tracer = new TracerThread();
        return tracer.Run(() => RemoteSyscalls.Run(shifter.Pid, syscall, TimeSpan.FromSeconds(5), work));
    }

    /// <summary>kill(1), or with <paramref name="thread"/> tgkill to the main thread: a thread-directed signal.</summary>
    private static void Signal(string signal, int pid, bool thread = false)
    {
        if (thread)
        {
            int number = signal switch { "USR2" => 12, "STOP" => 19, _ => throw new ArgumentException(signal) };
            Assert.Equal(0, Interop.Syscall(Interop.SyscallNumbers.Tgkill, pid, pid, number, 0, 0));
            return;
        }
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>Runs on, holds no userfaultfd, is traced by no one, and every page checks.</summary>
    private static async Task AssertUntouchedAsync(Shifter shifter)
    {
        await shifter.WaitForTicksAsync();
        if (shifter.Status()!["main"] is "spin" or "handler")
        {
            await shifter.WaitForSpinsAsync();
        }
        Assert.DoesNotContain("anon_inode:[userfaultfd]", ProcFs.DescriptorTargets(shifter.Pid));
        Assert.Equal(0, ProcFs.TracerPid(shifter.Pid));
        await shifter.VerifyEveryPageAsync();
    }
}
