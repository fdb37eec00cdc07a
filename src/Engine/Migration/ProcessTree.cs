using System.Globalization;

namespace Migrate.Engine.Migration;

/// <summary>A running process and its descendants, as /proc shows them.</summary>
public sealed record ProcessTree(int RootPid, string Command, IReadOnlyList<int> Pids)
{
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
        var status = ReadStatus(pid) ?? throw new MigrationRefusedException($"no process with PID {pid}");
        if (status.TryGetValue("Tgid", out var tgid) && tgid != pid.ToString(CultureInfo.InvariantCulture))
        {
            throw new MigrationRefusedException($"PID {pid} is a thread of process {tgid}; give the process ID");
        }
        if (status.TryGetValue("State", out var state) && state.StartsWith('Z'))
        {
            throw new MigrationRefusedException($"process {pid} has already exited (zombie)");
        }
        if ((ReadStatFlags(pid) & PF_KTHREAD) != 0)
        {
            throw new MigrationRefusedException($"PID {pid} is a kernel thread");
        }
        var pids = new List<int>();
        CollectDescendants(pid, pids);
        if (pids.Contains(Environment.ProcessId))
        {
            throw new MigrationRefusedException($"process {pid} is an ancestor of migrate itself");
        }
        return new ProcessTree(pid, status.GetValueOrDefault("Name", "?"), pids);
    }

    /// <summary>The process's name as /proc/PID/status gives it, or null when there is no such process.</summary>
    public static string? CommandOf(int pid) => ReadStatus(pid)?.GetValueOrDefault("Name");

    /// <summary>The state letter of /proc/PID/stat (R, S, D, T, Z, ...), or null if there is no such process.</summary>
    public static char? State(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2];
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The resident memory of a process and its descendants (VmRSS), for placing it.</summary>
    public static ulong ResidentBytes(int pid)
    {
        var pids = new List<int>();
        CollectDescendants(pid, pids);
        ulong total = 0;
        foreach (var task in pids)
        {
            var status = ReadStatus(task);
            // "VmRSS:     1234 kB" (proc(5)).
            if (status is not null && status.TryGetValue("VmRSS", out var rss) &&
                ulong.TryParse(rss.Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong kib))
            {
                total += kib * 1024;
            }
        }
        return total;
    }

    /// <summary>True when the process exists and is neither stopped nor a zombie.</summary>
    public static bool IsRunning(int pid) => State(pid) is { } state && state is not ('T' or 't' or 'Z' or 'X');

    private static void CollectDescendants(int pid, List<int> pids)
    {
        pids.Add(pid);
        foreach (var child in Children(pid))
        {
            CollectDescendants(child, pids);
        }
    }

    // /proc/PID/task/TID/children lists each thread's children (proc(5)).
    private static SortedSet<int> Children(int pid)
    {
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
        var children = new SortedSet<int>();
        foreach (var task in tasks)
        {
            try
            {
                foreach (var word in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    children.Add(int.Parse(word, CultureInfo.InvariantCulture));
                }
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                // The thread exited while we looked.
            }
        }
        return children;
    }

    private static Dictionary<string, string>? ReadStatus(int pid)
    {
        try
        {
            return File.ReadAllLines($"/proc/{pid}/status")
                .Select(line => line.Split(':', 2))
                .Where(parts => parts.Length == 2)
                .ToDictionary(parts => parts[0], parts => parts[1].Trim());
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    // /proc/PID/stat field 9 is the task's flags; fields after the
    // parenthesised command name are space separated (proc(5)).
    private static uint ReadStatFlags(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return uint.Parse(fields[6], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new MigrationRefusedException($"no process with PID {pid}");
        }
    }
}
