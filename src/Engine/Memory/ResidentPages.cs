using System.Buffers;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>Consecutive pages from <see cref="Address"/>.</summary>
public readonly record struct PageRun(ulong Address, int Pages)
{
    public ulong End => Address + ((ulong)Pages << PageSize.Shift);
}

/// <summary>
/// Which pages of an area hold data of the process's own, from its pagemap:
/// present or swapped, and not an untouched page of a private file mapping,
/// which the file itself supplies. CRIU chooses pages to dump the same way
/// (criu/mem.c, should_dump_page).
/// </summary>
public sealed class ResidentPages : IDisposable
{
    private const int EntriesPerRead = 8192;

    private readonly ProcFs.Pagemap _pagemap;

    private ResidentPages(ProcFs.Pagemap pagemap) => _pagemap = pagemap;

    /// <summary>Opens the process's pagemap, or returns null when it has gone.</summary>
    public static ResidentPages? Open(int pid) => ProcFs.Pagemap.Open(pid) is { } pagemap ? new ResidentPages(pagemap) : null;

    /// <summary>How many pages of the process hold data of its own (what a content-hash round reads); 0 when it has gone.</summary>
    public static long Count(int pid)
    {
        using var resident = Open(pid);
        if (resident is null)
        {
            return 0;
        }
        try
        {
            return ProcFs.Maps.Read(pid).Where(area => area.HoldsProcessData).SelectMany(resident.Runs).Sum(run => (long)run.Pages);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            // Exited while counted: the scan will find nothing either.
            return 0;
        }
    }

    /// <summary>The runs of consecutive pages of <paramref name="area"/> that hold process data.</summary>
    public IEnumerable<PageRun> Runs(MemoryArea area) => Runs(area.Start, area.End, area.IsFileBacked);

    /// <summary>The same, for the pages from <paramref name="start"/> to <paramref name="end"/> of an area.</summary>
    public IEnumerable<PageRun> Runs(ulong start, ulong end, bool fileBacked)
    {
        var entries = ArrayPool<ulong>.Shared.Rent(EntriesPerRead);
        try
        {
            ulong page = start >> PageSize.Shift;
            ulong last = end >> PageSize.Shift;
            ulong runStart = 0;
            int runLength = 0;
            while (page < last)
            {
                int count = _pagemap.Read(page, entries.AsSpan(0, (int)Math.Min(EntriesPerRead, last - page)));
                if (count == 0)
                {
                    break;
                }
                for (int i = 0; i < count; i++, page++)
                {
                    ulong entry = entries[i];
                    bool holdsData = (entry & (ProcFs.Pagemap.Present | ProcFs.Pagemap.Swapped)) != 0 &&
                        !(fileBacked && (entry & ProcFs.Pagemap.FilePage) != 0);
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
                        yield return new PageRun(runStart, runLength);
                        runLength = 0;
                    }
                }
            }
            if (runLength > 0)
            {
                yield return new PageRun(runStart, runLength);
            }
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(entries);
        }
    }

    public void Dispose() => _pagemap.Dispose();
}
