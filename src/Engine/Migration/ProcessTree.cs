using Migrate.Engine.Linux;

namespace Migrate.Engine.Migration;

/// <summary>A running process and its descendants, as /proc shows them.</summary>
/// <param name="Stopped">The tasks that were stopped (by a signal, state T) when the tree was found: no resume may wake them.</param>
public sealed record ProcessTree(int RootPid, string Command, IReadOnlyList<int> Pids, IReadOnlySet<int> Stopped)
{
    public ProcessTree(int rootPid, string command, IReadOnlyList<int> pids)
        : this(rootPid, command, pids, new HashSet<int>())
    {
    }

    // include/linux/sched.h
    private const uint PF_KTHREAD = 0x00200000;

    /// <summary>
    /// Finds the tree rooted at <paramref name="pid"/>, or says in the
    /// exception why it cannot be migrated.
    /// </summary>
    public static ProcessTree Discover(int pid)
    {
        if (pid <= 1)
        {
            throw new MigrationRefusedException($"PID {pid} cannot be migrated: give the PID of a user process");
        }
        if (pid == Environment.ProcessId)
        {
            throw new MigrationRefusedException("migrate cannot migrate itself");
        }
        var status = ProcFs.Status.Read(pid) ?? throw new MigrationRefusedException($"no process with PID {pid}");
        if (status.Tgid is { } tgid && tgid != pid)
        {
            throw new MigrationRefusedException($"PID {pid} is a thread of process {tgid}; give the process ID");
        }
        if (status.State == 'Z')
        {
            throw new MigrationRefusedException($"process {pid} has already exited (zombie)");
        }
        var stat = ProcFs.Stat.Read(pid) ?? throw new MigrationRefusedException($"no process with PID {pid}");
        if ((stat.Flags & PF_KTHREAD) != 0)
        {
            throw new MigrationRefusedException($"PID {pid} is a kernel thread");
        }
        var pids = new List<int>();
        CollectDescendants(pid, pids);
        if (pids.Contains(Environment.ProcessId))
        {
            throw new MigrationRefusedException($"process {pid} is an ancestor of migrate itself");
        }
        return new ProcessTree(pid, status.Name ?? "?", pids, pids.Where(task => State(task) == 'T').ToHashSet());
    }

    /// <summary>The process's name as /proc/PID/status gives it, or null when there is no such process.</summary>
    public static string? CommandOf(int pid) => ProcFs.Status.Read(pid)?.Name;

    /// <summary>The state letter of /proc/PID/stat (R, S, D, T, Z, ...), or null if there is no such process.</summary>
    public static char? State(int pid) => ProcFs.Stat.Read(pid)?.State;

    /// <summary>The resident memory of a process and its descendants (VmRSS), for placing it.</summary>
    public static ulong ResidentBytes(int pid)
    {
        var pids = new List<int>();
        CollectDescendants(pid, pids);
        ulong total = 0;
        foreach (var task in pids)
        {
            total += (ProcFs.Status.Read(task)?.ResidentKiB ?? 0) * 1024;
        }
        return total;
    }

    /// <summary>True when the process exists and is neither stopped nor a zombie.</summary>
    public static bool IsRunning(int pid) => State(pid) is { } state && state is not ('T' or 't' or 'Z' or 'X');

    private static void CollectDescendants(int pid, List<int> pids)
    {
        pids.Add(pid);
        foreach (var child in ProcFs.Children.Of(pid))
        {
            CollectDescendants(child, pids);
        }
    }
}
