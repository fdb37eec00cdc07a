using Migrate.Engine.Linux;

namespace Migrate.Engine.Migration;

/// <summary>
/// Tasks that CRIU left stopped, held by pidfd. While a task is stopped its
/// PID cannot be reused, so opening the pidfds right after the dump or restore
/// pins exactly those tasks; every later signal goes through the pidfd.
/// </summary>
internal sealed class StoppedTasks : IStoppedTasks
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

    public int Resume(IReadOnlySet<int> leaveStopped) =>
        _tasks.Count(task => !leaveStopped.Contains(task.Pid) && task.Handle.SendSignal(Signals.SIGCONT));

    public void ResumeStopped(IReadOnlySet<int> leaveStopped)
    {
        foreach (var (pid, handle) in _tasks.Where(task => !leaveStopped.Contains(task.Pid) && ProcessTree.State(task.Pid) is 'T' or 't'))
        {
            handle.SendSignal(Signals.SIGCONT);
        }
    }

    public int SendKill() => _tasks.Count(task => task.Handle.SendSignal(Signals.SIGKILL));

    public void WaitGone(TimeSpan timeout)
    {
        foreach (var (pid, handle) in _tasks)
        {
            if (!handle.WaitForExit(timeout))
            {
                throw new IOException($"task {pid} did not exit within {timeout.TotalSeconds:0} s of SIGKILL");
            }
        }
    }

    public void Dispose()
    {
        foreach (var (_, handle) in _tasks)
        {
            handle.Dispose();
        }
    }
}
