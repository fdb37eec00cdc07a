using Migrate.Engine.Images.Proto;

namespace Migrate.Engine.Images;

/// <summary>A run of pages in a pagemap image.</summary>
public readonly record struct PagemapRun(ulong Address, long Pages, uint Flags)
{
    // criu/include/pagemap.h
    public const uint InParent = 1 << 0;
    public const uint Lazy = 1 << 1;
    public const uint Present = 1 << 2;

    /// <summary>The run's pages are in this image set's pages file.</summary>
    public bool InPagesFile => (Flags & Present) != 0;
}

/// <summary>
/// pagemap-PID.img: a head naming the pages file (pages-ID.img), then runs of
/// pages. The pages file holds the content of every present run, in order.
/// </summary>
public sealed record PagemapImage(uint PagesId, IReadOnlyList<PagemapRun> Runs)
{
    public string PagesFileName => $"pages-{PagesId}.img";

    public long PresentPages => Runs.Where(run => run.InPagesFile).Sum(run => run.Pages);

    public static string FileName(int pid) => $"pagemap-{pid}.img";

    public static PagemapImage Read(string path)
    {
        var reader = ImageReader.Open(File.ReadAllBytes(path), ImageMagic.Pagemap, path);
        if (!reader.TryRead(PagemapHead.Parser, out var head))
        {
            ThrowHelper.InvalidData(path, 0, "no pagemap head");
        }
        var runs = new List<PagemapRun>();
        while (reader.TryRead(PagemapEntry.Parser, out var entry))
        {
            // CRIU writes nr_pages; images from before it only compat_nr_pages (criu/pagemap.c).
            long pages = entry.HasNrPages ? (long)entry.NrPages : entry.CompatNrPages;
            uint flags = entry.HasFlags ? entry.Flags : entry.InParent ? PagemapRun.InParent : PagemapRun.Present;
            runs.Add(new PagemapRun(entry.Vaddr, pages, flags));
        }
        return new PagemapImage(head.PagesId, runs);
    }
}
