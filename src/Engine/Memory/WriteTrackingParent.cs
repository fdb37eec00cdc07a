using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;

using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// The parent images a --track-mem-wp dump names on the source. The pages
/// themselves are on the target; CRIU only needs to see that a parent exists
/// (scripts/criu/README.md): an inventory with the dump's uptime, for its PID
/// reuse check, and per task a pagemap covering every page it may leave in
/// the parent, with an empty pages file. The pagemaps here cover the whole
/// user address space: which holes are trustworthy is not CRIU's to judge but
/// the tracker's, which checks every one of them while the tree is frozen.
/// Each pre-copied shared memory object has one too (pagemap-shmem-SHMID.img),
/// which makes CRIU leave all its pages in the parent (patch 0005).
/// </summary>
public static class WriteTrackingParent
{
    public const string SetName = "tracked";

    // CRIU's image format version 2 (criu/include/image.h, CRTOOLS_IMAGES_V1_1).
    private const uint ImageVersion = 2;

    // x86-64 user space ends below 2^47 with four-level paging; a task that
    // maps above it (five-level paging) has those pages dumped whole.
    private const ulong UserSpaceEnd = 1UL << 47;

    /// <summary>Writes the parent into <paramref name="directory"/> for <paramref name="pids"/> and the shared memory <paramref name="sharedMemoryIds"/>, now.</summary>
    public static void Write(string directory, IEnumerable<int> pids, IEnumerable<uint> sharedMemoryIds)
    {
        Directory.CreateDirectory(directory);
        var inventory = new InventoryEntry { ImgVersion = ImageVersion, FdinfoPerId = true, DumpUptime = ProcFs.UptimeMicroseconds() };
        File.WriteAllBytes(Path.Combine(directory, "inventory.img"), ImageWriter.Write(ImageMagic.Inventory, [inventory]));
        File.WriteAllBytes(Path.Combine(directory, "pages-1.img"), []);
        ulong pages = UserSpaceEnd >> PageSize.Shift;
        var everything = ImageWriter.Write(ImageMagic.Pagemap,
            [new PagemapHead { PagesId = 1 }, new PagemapEntry { Vaddr = 0, NrPages = pages, CompatNrPages = uint.MaxValue, Flags = PagemapRun.Present }]);
        foreach (var owner in pids.Select(PageOwner.Task).Concat(sharedMemoryIds.Select(PageOwner.SharedMemory)))
        {
            File.WriteAllBytes(Path.Combine(directory, owner.PagemapFileName), everything);
        }
    }
}
