using System.Globalization;

namespace Migrate.Engine.Linux;

/// <summary>A descriptor a process holds, and what /proc/PID/fd/N links to (a path, "pipe:[123]", "anon_inode:[userfaultfd]", ...).</summary>
public readonly record struct OpenFile(int Fd, string Target);

public static partial class ProcFs
{
    /// <summary>/proc/PID/fd: the descriptors whose link could be read; empty when the process has gone or may not be looked at.</summary>
    public static IReadOnlyList<OpenFile> OpenFiles(int pid)
    {
        string[] descriptors;
        try
        {
            descriptors = Directory.GetFiles(Path.Combine(PidDirectory(pid), "fd"));
        }
        catch (Exception e) when (e is DirectoryNotFoundException or UnauthorizedAccessException)
        {
            return [];
        }
        var files = new List<OpenFile>(descriptors.Length);
        foreach (var descriptor in descriptors)
        {
            if (ReadLink(descriptor) is { } target &&
                int.TryParse(Path.GetFileName(descriptor), NumberStyles.None, CultureInfo.InvariantCulture, out int fd))
            {
                files.Add(new OpenFile(fd, target));
            }
        }
        return files;
    }

    /// <summary>/proc/PID/fdinfo/FD: the open flags ("flags:\t0100002", octal), or null when the descriptor or process has gone.</summary>
    public static int? DescriptorFlags(int pid, int fd)
    {
        var text = ReadText(Path.Combine(PidDirectory(pid), "fdinfo", fd.ToString(CultureInfo.InvariantCulture)));
        if (text is null)
        {
            return null;
        }
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                return Convert.ToInt32(line["flags:".Length..].Trim(), 8);
            }
        }
        return null;
    }

    /// <summary>A line of /proc/self/mounts (proc(5)): the fields as the kernel writes them, spaces escaped as \040.</summary>
    public readonly record struct Mount(string Source, string MountPoint, string Type);

    /// <summary>/proc/self/mounts: this process's mount namespace.</summary>
    public static IEnumerable<Mount> Mounts() =>
        File.ReadLines("/proc/self/mounts")
            .Select(line => line.Split(' '))
            .Where(fields => fields.Length > 2)
            .Select(fields => new Mount(fields[0], fields[1], fields[2]));

    /// <summary>/proc/meminfo's MemAvailable in bytes ("MemAvailable:   24307524 kB"), 0 when the kernel does not say.</summary>
    public static ulong MemoryAvailableBytes()
    {
        var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
        return line is null ? 0 : ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}
