using System.Threading.Channels;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// Finds the pages of a task that differ from what the target holds, and
/// hands them on in batches. Two sources: the running process's memory
/// (a pre-copy round) and CRIU's final dump of it (the differences sent
/// while the process is frozen).
/// </summary>
public static class PageScanner
{
    /// <summary>Reads the running task's memory with process_vm_readv.</summary>
    /// <param name="pagesRead">Called with each count of pages read, for a progress display.</param>
    public static async Task<SiftCounts> ScanProcessAsync(
        int pid, PageHashes held, ChannelWriter<PageBatchBuilder> output, Action<int>? pagesRead, CancellationToken cancellationToken)
    {
        using var resident = ResidentPages.Open(pid);
        if (resident is null)
        {
            return default;
        }
        var counts = new SiftCounts();
        var builder = new PageBatchBuilder(pid);
        var runs = new List<(ulong Address, int Pages)>();
        try
        {
            foreach (var area in ProcFs.Maps.Read(pid).Where(area => area.HoldsProcessData))
            {
                runs.Clear();
                resident.ForEachRun(area, (address, pages) => runs.Add((address, pages)));
                foreach (var (start, length) in runs)
                {
                    ulong address = start;
                    int left = length;
                    while (left > 0)
                    {
                        int take = Math.Min(left, builder.FreePages);
                        long copied = ReadPages(pid, address, take, builder.Free);
                        if (copied < 0)
                        {
                            // The task has exited; its pages no longer matter.
                            await Flush(builder, output, cancellationToken).ConfigureAwait(false);
                            return counts;
                        }
                        int got = (int)(copied / PageSize.Bytes);
                        counts += builder.Sift(address, got, held);
                        pagesRead?.Invoke(got);
                        if (builder.IsFull)
                        {
                            await output.WriteAsync(builder, cancellationToken).ConfigureAwait(false);
                            builder = new PageBatchBuilder(pid);
                        }
                        if (got < take)
                        {
                            // Unmapped while we read: whatever replaces it shows in a later round or the final diff.
                            break;
                        }
                        address += (ulong)take << PageSize.Shift;
                        left -= take;
                    }
                }
            }
            await Flush(builder, output, cancellationToken).ConfigureAwait(false);
            return counts;
        }
        catch
        {
            builder.Dispose();
            throw;
        }
    }

    /// <summary>Reads the task's pages from CRIU's dump, in the order its pagemap lists them.</summary>
    public static async Task<SiftCounts> ScanDumpAsync(
        int pid, PagemapImage pagemap, string pagesFile, PageHashes held, ChannelWriter<PageBatchBuilder> output, CancellationToken cancellationToken)
    {
        var counts = new SiftCounts();
        var builder = new PageBatchBuilder(pid);
        using var pages = File.OpenHandle(pagesFile);
        long offset = 0;
        try
        {
            foreach (var run in pagemap.Runs.Where(run => run.InPagesFile))
            {
                ulong address = run.Address;
                long left = run.Pages;
                while (left > 0)
                {
                    int take = (int)Math.Min(left, builder.FreePages);
                    var destination = builder.Free[..(take * PageSize.Bytes)];
                    if (RandomAccess.Read(pages, destination, offset) != destination.Length)
                    {
                        throw new InvalidDataException($"{pagesFile} ends before {pagemap.PresentPages} pages");
                    }
                    offset += destination.Length;
                    counts += builder.Sift(address, take, held);
                    if (builder.IsFull)
                    {
                        await output.WriteAsync(builder, cancellationToken).ConfigureAwait(false);
                        builder = new PageBatchBuilder(pid);
                    }
                    address += (ulong)take << PageSize.Shift;
                    left -= take;
                }
            }
            await Flush(builder, output, cancellationToken).ConfigureAwait(false);
            return counts;
        }
        catch
        {
            builder.Dispose();
            throw;
        }
    }

    private static long ReadPages(int pid, ulong address, int pages, Span<byte> destination)
    {
        return ProcessMemory.Read(pid, address, destination[..(pages * PageSize.Bytes)]);
    }

    private static async Task Flush(PageBatchBuilder builder, ChannelWriter<PageBatchBuilder> output, CancellationToken cancellationToken)
    {
        if (builder.IsEmpty)
        {
            builder.Dispose();
            return;
        }
        await output.WriteAsync(builder, cancellationToken).ConfigureAwait(false);
    }
}
