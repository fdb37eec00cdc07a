using System.Globalization;

namespace Migrate.Engine.Memory;

/// <summary>One line of /proc/PID/maps (proc(5)).</summary>
public readonly record struct MemoryArea(ulong Start, ulong End, bool Readable, bool Writable, bool Executable, bool Private, ulong Offset, string Path)
{
    public ulong Pages => (End - Start) / PageSize.Bytes;

    public bool IsFileBacked => Path.StartsWith('/');

    /// <summary>
    /// Whether CRIU would dump pages of this area: private memory it can read.
    /// The kernel's special areas are mapped anew on restore, not copied.
    /// </summary>
    public bool HoldsProcessData =>
        Private && Readable && Path is not ("[vsyscall]" or "[vvar]" or "[vvar_vclock]" or "[vdso]" or "[uprobes]");
}

public static class PageSize
{
    public const int Bytes = 4096;
    public const int Shift = 12;

    /// <summary>Canonical user addresses stay below 2^57 even with five-level paging.</summary>
    public const ulong UserAddressLimit = 1UL << 57;
}

/// <summary>Reads /proc/PID/maps.</summary>
public static class MemoryMap
{
    /// <summary>The process's areas, or an empty list when it has gone.</summary>
    public static IReadOnlyList<MemoryArea> Read(int pid)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines($"/proc/{pid}/maps");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return [];
        }
        var areas = new List<MemoryArea>(lines.Length);
        foreach (var line in lines)
        {
            areas.Add(Parse(line));
        }
        return areas;
    }

    // "start-end perms offset dev inode   path"; the path may hold spaces.
    internal static MemoryArea Parse(string line)
    {
        var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        var range = fields[0].Split('-');
        var perms = fields[1];
        return new MemoryArea(
            ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            perms[0] == 'r',
            perms[1] == 'w',
            perms[2] == 'x',
            perms[3] == 'p',
            ulong.Parse(fields[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            fields.Length > 5 ? fields[5].Trim() : "");
    }
}
