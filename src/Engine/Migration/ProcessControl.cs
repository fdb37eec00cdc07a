namespace Migrate.Engine.Migration;

/// <summary>
/// Tasks stopped for a migration (CRIU left them stopped), held so that every
/// later signal reaches exactly those tasks.
/// </summary>
public interface IStoppedTasks : IDisposable
{
    IReadOnlyList<int> Pids { get; }

    /// <summary>
    /// Lets every task run again but those of <paramref name="leaveStopped"/>,
    /// which were stopped before the migration and stay so. Returns how many it resumed.
    /// </summary>
    int Resume(IReadOnlySet<int> leaveStopped);

    /// <summary>Resumes the tasks that are stopped, leaving running ones alone, and those of <paramref name="leaveStopped"/>, stopped before the migration.</summary>
    void ResumeStopped(IReadOnlySet<int> leaveStopped);

    /// <summary>
    /// Sends SIGKILL to every task. Returns how many it reached. A stopped task
    /// with SIGKILL pending never runs user code again (signal(7)), so this is
    /// the moment a copy is gone, although the kernel may still be tearing down
    /// its memory.
    /// </summary>
    int SendKill();

    /// <summary>Waits until every task has exited; throws <see cref="IOException"/> after <paramref name="timeout"/>.</summary>
    void WaitGone(TimeSpan timeout);

    /// <summary>Kills every task and waits until each has exited. Returns how many it killed.</summary>
    int Kill(TimeSpan timeout)
    {
        int killed = SendKill();
        WaitGone(timeout);
        return killed;
    }
}

/// <summary>The processes of this host, as both agents act on them: the seam behind which tests put fakes.</summary>
public interface IProcessControl
{
    /// <summary>The state letter of /proc/PID/stat (R, S, D, T, Z, ...), or null if there is no such process.</summary>
    char? State(int pid);

    /// <summary>Pins the given tasks; those already gone are left out.</summary>
    IStoppedTasks Pin(IEnumerable<int> pids);
}

public static class ProcessStates
{
    public static bool IsStopped(this char? state) => state is 'T' or 't';

    /// <summary>True when the process exists and is neither stopped nor a zombie.</summary>
    public static bool IsRunning(this char? state) => state is { } s && s is not ('T' or 't' or 'Z' or 'X');
}
