using System.Globalization;

namespace Migrate.Lab.Infrastructure;

/// <summary>What /proc says about processes, read from this tool's (root) PID namespace.</summary>
internal static class ProcFs
{
    /// <summary>Field 22 of /proc/PID/stat, the start time: tells a PID reused by another process from the one recorded.</summary>
    public static ulong? StartTime(int pid) => StatFields(pid) is { } fields ? ulong.Parse(fields[19], CultureInfo.InvariantCulture) : null;

    /// <summary>The state letter of /proc/PID/stat (R, S, T, Z...), or null if the process is gone.</summary>
    public static char? State(int pid) => StatFields(pid) is { } fields ? fields[0][0] : null;

    /// <summary>The PID namespace's link (pid:[INODE]), or null if the process is gone.</summary>
    public static string? PidNamespace(int pid) => Link($"/proc/{pid}/ns/pid");

    /// <summary>Every live process whose PID namespace is <paramref name="pidNamespace"/>, as (PID here, PID there).</summary>
    public static IReadOnlyList<(int Pid, int NamespacePid)> ProcessesIn(string pidNamespace)
    {
        var found = new List<(int, int)>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) &&
                PidNamespace(pid) == pidNamespace && NamespacePids(pid) is [.., int inner])
            {
                found.Add((pid, inner));
            }
        }
        return found;
    }

    /// <summary>The children of every thread of PID (/proc/PID/task/*/children).</summary>
    public static IReadOnlyList<int> Children(int pid)
    {
        try
        {
            return Directory.EnumerateDirectories($"/proc/{pid}/task")
                .SelectMany(task => File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Select(word => int.Parse(word, CultureInfo.InvariantCulture))
                .ToList();
        }
        catch (Exception e) when (IsGone(e))
        {
            return [];
        }
    }

    /// <summary>The 1, 5 and 15 minute load averages as /proc/loadavg writes them.</summary>
    public static string LoadAverages() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    public static double Load1() => double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    /// <summary>MemAvailable of /proc/meminfo, in MiB.</summary>
    public static long AvailableMiB()
    {
        var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }

    private static List<int> NamespacePids(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("NSpid:", StringComparison.Ordinal));
            return line is null
                ? []
                : line["NSpid:".Length..].Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)
                    .Select(word => int.Parse(word, CultureInfo.InvariantCulture)).ToList();
        }
        catch (Exception e) when (IsGone(e))
        {
            return [];
        }
    }

    /// <summary>The fields of /proc/PID/stat after the command name, which may hold spaces and parentheses.</summary>
    private static string[]? StatFields(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (Exception e) when (IsGone(e))
        {
            return null;
        }
    }

    private static string? Link(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (IsGone(e))
        {
            return null;
        }
    }

    private static bool IsGone(Exception e) => e is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException;
}
