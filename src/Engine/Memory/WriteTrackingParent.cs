using System.Globalization;
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
/// </summary>
public static class WriteTrackingParent
{
    public const string SetName = "tracked";

    // CRIU's image format version 2 (criu/include/image.h, CRTOOLS_IMAGES_V1_1).
    private const uint ImageVersion = 2;

    // x86-64 user space ends below 2^47 with four-level paging; a task that
    // maps above it (five-level paging) has those pages dumped whole.
    private const ulong UserSpaceEnd = 1UL << 47;

    /// <summary>Writes the parent into <paramref name="directory"/> for <paramref name="pids"/>, now.</summary>
    public static void Write(string directory, IEnumerable<int> pids)
    {
        Directory.CreateDirectory(directory);
        var inventory = new InventoryEntry { ImgVersion = ImageVersion, FdinfoPerId = true, DumpUptime = UptimeMicroseconds() };
        File.WriteAllBytes(Path.Combine(directory, "inventory.img"), ImageWriter.Write(ImageMagic.Inventory, [inventory]));
        File.WriteAllBytes(Path.Combine(directory, "pages-1.img"), []);
        ulong pages = UserSpaceEnd >> PageSize.Shift;
        foreach (var pid in pids)
        {
            var everything = new PagemapEntry { Vaddr = 0, NrPages = pages, CompatNrPages = uint.MaxValue, Flags = PagemapRun.Present };
            File.WriteAllBytes(Path.Combine(directory, PagemapImage.FileName(pid)),
                ImageWriter.Write(ImageMagic.Pagemap, [new PagemapHead { PagesId = 1 }, everything]));
        }
    }

    // /proc/uptime: "SECONDS.FRACTION IDLE" (proc(5)).
    private static ulong UptimeMicroseconds()
    {
        var seconds = File.ReadAllText("/proc/uptime").Split(' ')[0];
        return (ulong)(decimal.Parse(seconds, CultureInfo.InvariantCulture) * 1_000_000);
    }
}
