using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Memory;

/// <summary>
/// Which pages of an area hold data of the process's own, from
/// /proc/PID/pagemap (Documentation/admin-guide/mm/pagemap.rst): present or
/// swapped, and not an untouched page of a private file mapping, which the
/// file itself supplies. CRIU chooses pages to dump the same way
/// (criu/mem.c, should_dump_page).
/// </summary>
public sealed class ResidentPages : IDisposable
{
    private const ulong Present = 1UL << 63;
    private const ulong Swapped = 1UL << 62;
    private const ulong FilePage = 1UL << 61;

    private readonly SafeFileHandle _pagemap;

    private ResidentPages(SafeFileHandle pagemap) => _pagemap = pagemap;

    /// <summary>Opens the process's pagemap, or returns null when it has gone.</summary>
    public static ResidentPages? Open(int pid)
    {
        try
        {
            return new ResidentPages(File.OpenHandle($"/proc/{pid}/pagemap"));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>How many pages of the process hold data of its own (what a content-hash round reads); 0 when it has gone.</summary>
    public static long Count(int pid)
    {
        using var resident = Open(pid);
        if (resident is null)
        {
            return 0;
        }
        long pages = 0;
        try
        {
            foreach (var area in MemoryMap.Read(pid).Where(area => area.HoldsProcessData))
            {
                resident.ForEachRun(area, (_, run) => pages += run);
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            // Exited while counted: the scan will find nothing either.
        }
        return pages;
    }

    /// <summary>
    /// Calls <paramref name="onRun"/> for each run of consecutive pages of
    /// <paramref name="area"/> that hold process data: (first address, page count).
    /// </summary>
    public void ForEachRun(MemoryArea area, Action<ulong, int> onRun)
    {
        const int EntriesPerRead = 8192;
        var entries = ArrayPool<ulong>.Shared.Rent(EntriesPerRead);
        try
        {
            ulong page = area.Start >> PageSize.Shift;
            ulong end = area.End >> PageSize.Shift;
            ulong runStart = 0;
            int runLength = 0;
            while (page < end)
            {
                int count = (int)Math.Min(EntriesPerRead, end - page);
                var bytes = MemoryMarshal.AsBytes(entries.AsSpan(0, count));
                int read = RandomAccess.Read(_pagemap, bytes, (long)(page * sizeof(ulong)));
                count = read / sizeof(ulong);
                if (count == 0)
                {
                    break;
                }
                for (int i = 0; i < count; i++, page++)
                {
                    ulong entry = entries[i];
                    bool holdsData = (entry & (Present | Swapped)) != 0 && !(area.IsFileBacked && (entry & FilePage) != 0);
                    if (holdsData)
                    {
                        if (runLength == 0)
                        {
                            runStart = page << PageSize.Shift;
                        }
                        runLength++;
                    }
                    else if (runLength > 0)
                    {
                        onRun(runStart, runLength);
                        runLength = 0;
                    }
                }
            }
            if (runLength > 0)
            {
                onRun(runStart, runLength);
            }
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(entries);
        }
    }

    public void Dispose() => _pagemap.Dispose();
}
