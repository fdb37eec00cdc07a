using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// Memory the tree shares with a process outside it. CRIU dumps shared memory
/// (anonymous shared, memfd, SysV, tmpfs files) with the tree and restores it
/// on the target, where the process outside cannot follow: from then on each
/// side writes its own copy, and a database whose cache lives there would see
/// its peers' writes vanish. Shared memory within the tree moves with it and
/// stays shared.
/// </summary>
public static class SharedMemory
{
    public const string CheckName = "shared-memory";

    /// <summary>Compares the tree's shared areas (<paramref name="tree"/>: each task's maps) with those of every other process on this host.</summary>
    public static CheckResult Check(IReadOnlyDictionary<int, IReadOnlyList<MemoryArea>> tree)
    {
        if (!tree.Values.Any(areas => areas.Any(IsShared)))
        {
            return Compare(tree, [], []);
        }
        var inTree = tree.Keys.ToHashSet();
        var others = new List<KeyValuePair<int, IReadOnlyList<MemoryArea>>>();
        var hidden = new List<int>();
        foreach (var pid in ProcFs.Pids().Where(pid => !inTree.Contains(pid) && pid != Environment.ProcessId))
        {
            try
            {
                others.Add(new(pid, ProcFs.Maps.Read(pid)));
            }
            catch (UnauthorizedAccessException)
            {
                // Even root may not read the maps of a process that is not
                // dumpable or that a user namespace above ours owns (ptrace
                // access mode, proc(5)); the check says it could not look.
                hidden.Add(pid);
            }
        }
        return Compare(tree, others, hidden);
    }

    /// <summary>
    /// Fails on the first object that a task of the tree and a process outside
    /// it both map shared, either of them writable.
    /// </summary>
    /// <param name="hidden">Processes whose maps could not be read.</param>
    public static CheckResult Compare(
        IReadOnlyDictionary<int, IReadOnlyList<MemoryArea>> tree, IEnumerable<KeyValuePair<int, IReadOnlyList<MemoryArea>>> others,
        IReadOnlyList<int>? hidden = null)
    {
        var shared = new Dictionary<(DeviceNumber, ulong), (int Pid, MemoryArea Area)>();
        foreach (var (pid, areas) in tree)
        {
            foreach (var area in areas.Where(IsShared))
            {
                var key = (area.Device, area.Inode);
                if (!shared.TryGetValue(key, out var known) || (area.Writable && !known.Area.Writable))
                {
                    shared[key] = (pid, area);
                }
            }
        }
        if (shared.Count == 0)
        {
            return Checks.Pass(CheckName, "the tree maps no shared memory");
        }
        foreach (var (pid, areas) in others)
        {
            foreach (var area in areas.Where(IsShared))
            {
                if (shared.TryGetValue((area.Device, area.Inode), out var mine) && (area.Writable || mine.Area.Writable))
                {
                    return Checks.Fail(CheckName,
                        $"task {mine.Pid} shares {Describe(mine.Area)} with PID {pid}, which is not in the tree: after the move each would write its own copy",
                        $"migrate the process whose tree holds both, or stop PID {pid} first; --ignore-check {CheckName} moves it anyway, and the two copies part");
                }
            }
        }
        var unseen = hidden is { Count: > 0 }
            ? $"; the maps of {Checks.Count(hidden.Count, "process")} could not be read (PID {string.Join(", ", hidden.Take(5))}{(hidden.Count > 5 ? ", ..." : "")})"
            : "";
        return Checks.Pass(CheckName, $"{Checks.Count(shared.Count, "shared memory object")}, shared within the tree only{unseen}");
    }

    // A SysV segment's inode is its shmid, and the first segment's is 0.
    private static bool IsShared(MemoryArea area) => !area.Private && !area.IsKernelSpecial && (area.Inode != 0 || area.IsSysvSegment);

    /// <summary>What the kernel names the object (proc(5)): its kind, and the file it is if it is one.</summary>
    public static string Describe(MemoryArea area) => area.Path switch
    {
        "/dev/zero (deleted)" or "/dev/zero" => "anonymous shared memory",
        var path when path.StartsWith("/SYSV", StringComparison.Ordinal) && path.Length >= 13 => $"SysV shared memory segment key 0x{path[5..13]}",
        var path when path.StartsWith("/memfd:", StringComparison.Ordinal) => $"memfd {path["/memfd:".Length..].Replace(" (deleted)", "", StringComparison.Ordinal)}",
        var path => $"the mapping of {path}",
    };
}
