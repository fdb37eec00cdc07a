using Migrate.Engine.Linux;

namespace Migrate.Engine.Migration;

/// <summary>
/// Tasks that CRIU left stopped, held by pidfd. While a task is stopped its
/// PID cannot be reused, so opening the pidfds right after the dump or restore
/// pins exactly those tasks; every later signal goes through the pidfd.
/// </summary>
public sealed class StoppedTasks : IDisposable
{
    private readonly List<(int Pid, PidfdHandle Handle)> _tasks;

    private StoppedTasks(List<(int, PidfdHandle)> tasks) => _tasks = tasks;

    public IReadOnlyList<int> Pids => _tasks.Select(task => task.Pid).ToList();

    /// <summary>Pins the given tasks; those already gone are left out.</summary>
    public static StoppedTasks Pin(IEnumerable<int> pids)
    {
        var tasks = new List<(int, PidfdHandle)>();
        foreach (var pid in pids)
        {
            if (PidfdHandle.Open(pid) is { } handle)
            {
                tasks.Add((pid, handle));
            }
        }
        return new StoppedTasks(tasks);
    }

    /// <summary>Lets every task run again. Returns how many were still there to resume.</summary>
    public int Resume() => _tasks.Count(task => task.Handle.SendSignal(Signals.SIGCONT));

    /// <summary>Resumes the tasks that are stopped, leaving running ones alone.</summary>
    public void ResumeStopped()
    {
        foreach (var (pid, handle) in _tasks.Where(task => ProcessTree.State(task.Pid) is 'T' or 't'))
        {
            handle.SendSignal(Signals.SIGCONT);
        }
    }

    /// <summary>Kills every task and waits until each has exited. Returns how many it killed.</summary>
    public int Kill(TimeSpan timeout)
    {
        int killed = _tasks.Count(task => task.Handle.SendSignal(Signals.SIGKILL));
        foreach (var (pid, handle) in _tasks)
        {
            if (!handle.WaitForExit(timeout))
            {
                throw new IOException($"task {pid} did not exit within {timeout.TotalSeconds:0} s of SIGKILL");
            }
        }
        return killed;
    }

    public void Dispose()
    {
        foreach (var (_, handle) in _tasks)
        {
            handle.Dispose();
        }
    }
}
