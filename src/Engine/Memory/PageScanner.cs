using System.Threading.Channels;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// Takes the <paramref name="pages"/> pages just read into <paramref name="builder"/>'s
/// free space, for consecutive addresses from <paramref name="firstAddress"/>,
/// and keeps those to be sent: <see cref="PageBatchBuilder.Sift"/> or <see cref="PageBatchBuilder.Keep"/>.
/// </summary>
public delegate SiftCounts PageSift(PageBatchBuilder builder, ulong firstAddress, int pages);

/// <summary>
/// Reads pages from <paramref name="address"/> into <paramref name="destination"/>:
/// returns the bytes read, fewer than asked where what is mapped ends, or -1
/// when their owner has gone.
/// </summary>
public delegate long PageRead(ulong address, Span<byte> destination);

/// <summary>
/// Finds the pages of a task that differ from what the target holds, and
/// hands them on in batches. Two sources: the running process's memory
/// (a pre-copy round) and CRIU's final dump of it (the differences sent
/// while the process is frozen).
/// </summary>
public static class PageScanner
{
    /// <summary>Reads every page of the running task that holds data, and keeps those whose hash differs from <paramref name="held"/>'s.</summary>
    /// <param name="pagesRead">Called with each count of pages read, for a progress display.</param>
    public static async Task<SiftCounts> ScanProcessAsync(
        int pid, PageHashes held, ChannelWriter<PageBatchBuilder> output, Action<int>? pagesRead, CancellationToken cancellationToken)
    {
        using var resident = ResidentPages.Open(pid);
        if (resident is null)
        {
            return default;
        }
        var runs = ProcFs.Maps.Read(pid).Where(area => area.HoldsProcessData).SelectMany(resident.Runs);
        return await ReadRunsAsync(pid, runs, (builder, address, pages) => builder.Sift(address, pages, held), output, pagesRead, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the pages a write-protect round found written: its written
    /// ranges, and the pages holding data in its ranges to treat as written.
    /// </summary>
    public static async Task<SiftCounts> ReadWritesAsync(ProcessWrites writes, PageSift sift, ChannelWriter<PageBatchBuilder> output, CancellationToken cancellationToken)
    {
        using var resident = ResidentPages.Open(writes.Pid);
        if (resident is null)
        {
            return default;
        }
        return await ReadRunsAsync(writes.Pid, writes.Runs(resident), sift, output, pagesRead: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads <paramref name="runs"/> of the running task's memory with
    /// process_vm_readv straight into batches (see <see cref="ReadRunsAsync(PageOwner, PageRead, IEnumerable{PageRun}, PageSift, ChannelWriter{PageBatchBuilder}, Action{int}?, CancellationToken)"/>).
    /// </summary>
    /// <param name="imagePid">The PID the batches name the task by, when it is not <paramref name="pid"/>: its PID in its own namespace, as CRIU's images have it.</param>
    public static Task<SiftCounts> ReadRunsAsync(
        int pid, IEnumerable<PageRun> runs, PageSift sift, ChannelWriter<PageBatchBuilder> output, Action<int>? pagesRead, CancellationToken cancellationToken,
        int? imagePid = null) =>
        ReadRunsAsync(PageOwner.Task(imagePid ?? pid), (address, destination) => ProcessMemory.Read(pid, address, destination),
            runs, sift, output, pagesRead, cancellationToken);

    /// <summary>
    /// Reads <paramref name="runs"/> of <paramref name="owner"/>'s pages with
    /// <paramref name="read"/> straight into batches, lets <paramref name="sift"/>
    /// keep what is to be sent, and writes each full batch to
    /// <paramref name="output"/>. Nothing is allocated per page. A run that
    /// stops being mapped ends short; an owner that is gone ends the read.
    /// </summary>
    public static async Task<SiftCounts> ReadRunsAsync(
        PageOwner owner, PageRead read, IEnumerable<PageRun> runs, PageSift sift, ChannelWriter<PageBatchBuilder> output, Action<int>? pagesRead,
        CancellationToken cancellationToken)
    {
        var counts = new SiftCounts();
        var builder = new PageBatchBuilder(owner);
        try
        {
            foreach (var run in runs)
            {
                ulong address = run.Address;
                int left = run.Pages;
                while (left > 0)
                {
                    int take = Math.Min(left, builder.FreePages);
                    long copied = read(address, builder.Free[..(take * PageSize.Bytes)]);
                    if (copied < 0)
                    {
                        // The task has exited; its pages no longer matter.
                        await Flush(builder, output, cancellationToken).ConfigureAwait(false);
                        return counts;
                    }
                    int got = (int)(copied / PageSize.Bytes);
                    counts += sift(builder, address, got);
                    pagesRead?.Invoke(got);
                    if (builder.IsFull)
                    {
                        await output.WriteAsync(builder, cancellationToken).ConfigureAwait(false);
                        builder = new PageBatchBuilder(owner);
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
        var builder = new PageBatchBuilder(PageOwner.Task(pid));
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
                        builder = new PageBatchBuilder(PageOwner.Task(pid));
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
