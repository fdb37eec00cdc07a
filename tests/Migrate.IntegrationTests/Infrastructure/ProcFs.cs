using System.Globalization;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>What /proc says about processes, read from the test's (root) PID namespace.</summary>
internal static class ProcFs
{
    public static bool Exists(int pid) => Directory.Exists($"/proc/{pid}");

    /// <summary>The state letter of /proc/PID/stat (R, S, T, Z...), or null if the process is gone.</summary>
    public static char? State(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2];
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
    }

    public static bool IsRunning(int pid) => State(pid) is 'R' or 'S' or 'D';

    public static string? PidNamespace(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/pid").LinkTarget;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
    }

    /// <summary>Every live process whose PID namespace is <paramref name="pidNamespace"/>, as (pid here, pid there).</summary>
    public static IReadOnlyList<(int Pid, int NamespacePid)> ProcessesIn(string pidNamespace)
    {
        var found = new List<(int, int)>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ||
                PidNamespace(pid) != pidNamespace)
            {
                continue;
            }
            var nsPid = NamespacePids(pid);
            if (nsPid.Count > 0)
            {
                found.Add((pid, nsPid[^1]));
            }
        }
        return found;
    }

    /// <summary>The NSpid line of /proc/PID/status: the PID in each namespace, outermost first.</summary>
    public static IReadOnlyList<int> NamespacePids(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("NSpid:", StringComparison.Ordinal));
            return line is null
                ? []
                : line["NSpid:".Length..].Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries)
                    .Select(word => int.Parse(word, CultureInfo.InvariantCulture)).ToList();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return [];
        }
    }

    /// <summary>The TracerPid line of /proc/PID/status: who traces it, 0 for nobody; null if it is gone.</summary>
    public static int? TracerPid(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("TracerPid:", StringComparison.Ordinal));
            return line is null ? null : int.Parse(line["TracerPid:".Length..].Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
    }

    /// <summary>What the process's descriptors link to (/proc/PID/fd): paths, "pipe:[N]", "anon_inode:[userfaultfd]", ...</summary>
    public static IReadOnlyList<string> DescriptorTargets(int pid) =>
        Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Select(fd => new FileInfo(fd).LinkTarget ?? "").ToList();

    public static string Executable(int pid) => new FileInfo($"/proc/{pid}/exe").LinkTarget!;

    /// <summary>The command line, arguments joined by spaces; empty if the process is gone.</summary>
    public static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return "";
        }
    }

    /// <summary>
    /// How many pages of the process's writable private areas carry a
    /// userfaultfd write-protect bit (bit 57 of /proc/PID/pagemap,
    /// Documentation/admin-guide/mm/pagemap.rst).
    /// </summary>
    public static long WriteProtectedPages(int pid)
    {
        const ulong UffdWp = 1UL << 57;
        long protectedPages = 0;
        using var pagemap = File.OpenHandle($"/proc/{pid}/pagemap");
        var entry = new byte[8 * 4096];
        foreach (var line in File.ReadLines($"/proc/{pid}/maps"))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields[1][1] != 'w' || fields[1][3] != 'p' || (fields.Length > 5 && fields[5] == "[vsyscall]"))
            {
                continue;
            }
            var range = fields[0].Split('-');
            ulong start = ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture) >> 12;
            ulong end = ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) >> 12;
            for (ulong page = start; page < end;)
            {
                int count = (int)Math.Min(4096, end - page);
                int read = RandomAccess.Read(pagemap, entry.AsSpan(0, count * 8), (long)page * 8);
                for (int i = 0; i + 8 <= read; i += 8)
                {
                    if ((BitConverter.ToUInt64(entry, i) & UffdWp) != 0)
                    {
                        protectedPages++;
                    }
                }
                page += (ulong)count;
            }
        }
        return protectedPages;
    }

    /// <summary>Sends SIGKILL to a process the test found by its own PID.</summary>
    public static void Kill(int pid)
    {
        try
        {
            System.Diagnostics.Process.GetProcessById(pid).Kill();
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
    }

    /// <summary>Sends the signal NAME (STOP, CONT, ...) to a process the test found by its own PID, as kill(1) does.</summary>
    public static void Signal(int pid, string name)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [$"-{name}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.True(kill.ExitCode == 0, $"kill -{name} {pid} exited {kill.ExitCode}");
    }

    public static IReadOnlyList<int> Children(int pid)
    {
        var children = new List<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                children.AddRange(File.ReadAllText(Path.Combine(task, "children"))
                    .Split(' ', StringSplitOptions.RemoveEmptyEntries)
                    .Select(word => int.Parse(word, CultureInfo.InvariantCulture)));
            }
        }
        catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
        {
        }
        return children;
    }
}
