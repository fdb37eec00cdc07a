using System.Globalization;
using System.Text.RegularExpressions;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Migration;

/// <summary>
/// The processes an evacuation moves. A migration takes a process with all
/// its descendants, so a selected process below another selected one is
/// dropped: it moves with its ancestor.
/// </summary>
public static class ProcessSelection
{
    public static IReadOnlyList<int> FromPids(IEnumerable<int> pids) => Roots(pids);

    /// <summary>One PID per line; blank lines and lines starting with # are skipped.</summary>
    public static IReadOnlyList<int> FromFile(string path) => Roots(File.ReadLines(path)
        .Select(line => line.Trim())
        .Where(line => line.Length > 0 && !line.StartsWith('#'))
        .Select(line => int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
            ? pid
            : throw new FormatException($"{path}: '{line}' is not a PID")));

    /// <summary>Every user process whose command line matches <paramref name="pattern"/>, but migrate itself and its ancestors.</summary>
    public static IReadOnlyList<int> Matching(Regex pattern) =>
        Roots(AllProcesses().Where(pid => pattern.IsMatch(ProcFs.CommandLine(pid))).Except(OwnAncestry()));

    /// <summary>
    /// Every process in the cgroup at <paramref name="path"/> and the groups
    /// below it: a path in the unified (v2) hierarchy, wherever it is mounted,
    /// or a directory under /sys/fs/cgroup (a v1 controller's group, say).
    /// </summary>
    public static IReadOnlyList<int> InCgroup(string path)
    {
        var root = path.StartsWith("/sys/fs/cgroup/", StringComparison.Ordinal)
            ? Path.GetFullPath(path)
            : Path.GetFullPath(Path.Combine(UnifiedHierarchy(), path.TrimStart('/')));
        if (!root.StartsWith("/sys/fs/cgroup", StringComparison.Ordinal) || !File.Exists(Path.Combine(root, "cgroup.procs")))
        {
            throw new DirectoryNotFoundException($"no cgroup {path} (looked in {root})");
        }
        var pids = new[] { root }.Concat(Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories))
            .SelectMany(group => File.ReadLines(Path.Combine(group, "cgroup.procs")))
            .Select(line => int.Parse(line, CultureInfo.InvariantCulture));
        return Roots(pids.Except(OwnAncestry()));
    }

    /// <summary>Where cgroup2 is mounted: /sys/fs/cgroup on most systems, /sys/fs/cgroup/unified on hybrid ones.</summary>
    public static string UnifiedHierarchy() =>
        ProcFs.Mounts().Where(mount => mount.Type == "cgroup2").Select(mount => mount.MountPoint).FirstOrDefault() ?? "/sys/fs/cgroup";

    private static List<int> Roots(IEnumerable<int> pids)
    {
        var selected = pids.Distinct().ToList();
        var set = selected.ToHashSet();
        return selected.Where(pid => !Ancestors(pid).Any(set.Contains)).ToList();
    }

    private static IEnumerable<int> AllProcesses() => ProcFs.Pids().Where(pid => pid > 1 && !IsKernelThread(pid));

    private static IEnumerable<int> OwnAncestry() => Ancestors(Environment.ProcessId).Prepend(Environment.ProcessId);

    private static IEnumerable<int> Ancestors(int pid)
    {
        for (int parent = ParentOf(pid); parent > 1; parent = ParentOf(parent))
        {
            yield return parent;
        }
    }

    private static int ParentOf(int pid) => ProcFs.Status.Read(pid)?.ParentPid ?? 0;

    // Kernel threads have an empty command line.
    private static bool IsKernelThread(int pid) => ProcFs.CommandLine(pid).Length == 0;
}
