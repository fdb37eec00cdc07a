using System.Globalization;

namespace Migrate.Engine.Linux;

/// <summary>A descriptor a process holds, and what /proc/PID/fd/N links to (a path, "pipe:[123]", "anon_inode:[userfaultfd]", ...).</summary>
public readonly record struct OpenFile(int Fd, string Target);

/// <summary>What /proc/PID/fdinfo/FD says of a descriptor: its open flags, and the file, when a lock or lease is held through it.</summary>
public readonly record struct DescriptorInfo(int Flags, FileIdentity? Locked);

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

    /// <summary>
    /// /proc/PID/fdinfo/FD: the open flags ("flags:\t0100002", octal), and
    /// the locked file when a lock or lease is held through the descriptor (a
    /// "lock:" line, fs/locks.c show_fd_locks); null when the descriptor or
    /// process has gone.
    /// </summary>
    public static DescriptorInfo? Descriptor(int pid, int fd)
    {
        var text = ReadText(Path.Combine(PidDirectory(pid), "fdinfo", fd.ToString(CultureInfo.InvariantCulture)));
        return text is null ? null : ParseDescriptor(text);
    }

    internal static DescriptorInfo? ParseDescriptor(string fdinfo)
    {
        int? flags = null;
        FileIdentity? locked = null;
        foreach (var line in fdinfo.Split('\n'))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                flags = Convert.ToInt32(line["flags:".Length..].Trim(), 8);
            }
            else if (line.StartsWith("lock:", StringComparison.Ordinal))
            {
                locked ??= LockedFile(line["lock:".Length..]);
            }
        }
        return flags is { } known ? new DescriptorInfo(known, locked) : null;
    }

    /// <summary>
    /// /proc/locks: every file some process holds a lock or lease on, that
    /// this /proc's PID namespace sees (fs/locks.c skips a holder it cannot
    /// name; OFD locks, which have no holder, always show).
    /// </summary>
    public static IReadOnlySet<FileIdentity> LockedFiles() => ParseLocks(File.ReadAllText("/proc/locks"));

    internal static IReadOnlySet<FileIdentity> ParseLocks(string locks) =>
        locks.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(LockedFile).OfType<FileIdentity>().ToHashSet();

    /// <summary>
    /// The file of a lock line, "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
    /// (fs/locks.c lock_get_status): the first field of the form MAJOR:MINOR:INODE,
    /// hex, hex, decimal. Null for a waiter's line ("1: -> FLOCK ..."), which holds nothing.
    /// </summary>
    private static FileIdentity? LockedFile(string line)
    {
        var fields = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 6 || fields[1] == "->")
        {
            return null;
        }
        foreach (var field in fields.Skip(4))
        {
            var parts = field.Split(':');
            if (parts.Length == 3 &&
                uint.TryParse(parts[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var major) &&
                uint.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var minor) &&
                ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var inode))
            {
                return new FileIdentity(new DeviceNumber(major, minor), inode);
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
