using System.Threading.Channels;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>A shared memory object of the tree, and the mapping of one of its tasks that it is read through.</summary>
public sealed record SharedMemoryObject(int Pid, MemoryArea Area)
{
    /// <summary>CRIU's shmid for it: its inode number (criu/proc_parse.c); a SysV segment's is its IPC id.</summary>
    public uint Id => checked((uint)Area.Inode);

    public PageOwner Owner => PageOwner.SharedMemory(Id);
}

/// <summary>
/// Pre-copy of the tree's shared memory (anonymous shared, memfd, SysV), by
/// content. Write-protection cannot track it: it lives in the page tables of
/// one mapping, and writes through another mapping that comes and goes
/// between two scans (a forked worker that writes and exits) or through
/// write(2) never show there, which is also why CRIU keeps its own shared
/// memory tracking off. So each round reads every page of the object that
/// holds data and sends those whose hash changed; the final dump leaves every
/// page in the parent (patch 0005), and while the tree is frozen those pages
/// are read once more and the changed ones sent. The freeze reads shared
/// memory whole, but sends and writes only what changed.
/// </summary>
public sealed class SharedMemoryCopy
{
    // By shmid: the hash of each page the target's chain holds.
    private readonly Dictionary<uint, PageHashes> _held = [];

    /// <summary>The shared memory objects that were pre-copied: the final dump may leave their pages in the parent.</summary>
    public IEnumerable<uint> Copied => _held.Keys;

    /// <summary>The objects <paramref name="pids"/> map, each once; hugetlbfs and objects beyond a 32-bit shmid are left to CRIU.</summary>
    public static IReadOnlyList<SharedMemoryObject> Find(IEnumerable<int> pids)
    {
        var found = new Dictionary<ulong, SharedMemoryObject>();
        foreach (var pid in pids)
        {
            foreach (var area in ProcFs.Maps.Read(pid).Where(area => area.IsSharedMemoryObject && area.Inode <= uint.MaxValue))
            {
                found.TryAdd(area.Inode, new SharedMemoryObject(pid, area));
            }
        }
        return [.. found.Values];
    }

    /// <summary>
    /// Reads the pages of <paramref name="shared"/> in <paramref name="runs"/>
    /// (offsets in the object; null for every page that holds data) and
    /// sends those whose content differs from what the target holds. Returns
    /// null when the object cannot be read: it is no longer mapped there, or
    /// map_files may not be opened.
    /// </summary>
    public async Task<SiftCounts?> SendChangedAsync(
        SharedMemoryObject shared, IReadOnlyList<PageRun>? runs, ChannelWriter<PageBatchBuilder> output, Action<int>? pagesRead,
        CancellationToken cancellationToken)
    {
        if (!_held.TryGetValue(shared.Id, out var held))
        {
            held = new PageHashes();
        }
        PageSift sift = (builder, address, pages) => builder.Sift(address, pages, held);
        SiftCounts counts;
        if (shared.Area.IsSysvSegment)
        {
            // A SysV segment's file cannot be read (ipc/shm.c has no read),
            // and an attachment maps all of it: read through the mapping.
            var area = shared.Area;
            counts = await PageScanner.ReadRunsAsync(shared.Owner,
                (offset, destination) => ProcessMemory.Read(shared.Pid, area.Start + offset - area.Offset, destination),
                runs ?? [.. new PageRange(area.Offset, area.Offset + (area.End - area.Start)).Runs()], sift, output, pagesRead, cancellationToken)
                .ConfigureAwait(false);
        }
        else
        {
            using var file = SharedMemoryFile.Open(shared.Pid, shared.Area);
            if (file is null)
            {
                return null;
            }
            counts = await PageScanner.ReadRunsAsync(shared.Owner, (offset, destination) => file.Read((long)offset, destination),
                runs ?? [.. file.DataRuns().SelectMany(run => new PageRange((ulong)run.Offset, (ulong)(run.Offset + (run.Pages << PageSize.Shift))).Runs())],
                sift, output, pagesRead, cancellationToken).ConfigureAwait(false);
        }
        _held[shared.Id] = held;
        return counts;
    }
}
