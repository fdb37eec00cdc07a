using Migrate.Engine.Images.Proto;
using Migrate.Engine.Linux;

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

    public ulong End => Address + ((ulong)Pages << PageSize.Shift);
}

/// <summary>
/// pagemap-PID.img: a head naming the pages file (pages-ID.img), then runs of
/// pages. The pages file holds the content of every present run, in order.
/// </summary>
public sealed record PagemapImage(uint PagesId, IReadOnlyList<PagemapRun> Runs)
{
    public string PagesFileName => PagesFile(PagesId);

    public long PresentPages => Runs.Where(run => run.InPagesFile).Sum(run => run.Pages);

    public static string FileName(int pid) => $"pagemap-{pid}.img";

    public static string PagesFile(uint pagesId) => $"pages-{pagesId}.img";

    /// <summary>The whole pagemap, in memory: for images this host's CRIU wrote. A peer's are read with <see cref="PagemapReader"/>.</summary>
    public static PagemapImage Read(string path)
    {
        using var reader = PagemapReader.Open(path);
        return new PagemapImage(reader.PagesId, reader.ReadRuns().ToList());
    }
}

/// <summary>
/// Reads a pagemap image run by run, so that one of any size costs one
/// entry's memory, and checks each run as CRIU's page reader assumes it
/// (criu/pagemap.c reads forward through the pages file): page-aligned, at
/// least one page, within user address space, above the run before it and
/// not overlapping it.
/// </summary>
public sealed class PagemapReader : IDisposable
{
    // A pagemap entry holds five small fields; anything much larger is not CRIU's.
    private const int MaxEntryBytes = 4096;

    private readonly ImageFileReader _image;
    private readonly string _path;
    private ulong _end;

    private PagemapReader(ImageFileReader image, string path, uint pagesId)
    {
        _image = image;
        _path = path;
        PagesId = pagesId;
    }

    public uint PagesId { get; }

    public string PagesFileName => PagemapImage.PagesFile(PagesId);

    public static PagemapReader Open(string path)
    {
        var image = ImageFileReader.Open(path, ImageMagic.Pagemap, MaxEntryBytes);
        try
        {
            if (!image.TryRead(PagemapHead.Parser, out var head))
            {
                ThrowHelper.InvalidData(path, 0, "no pagemap head");
            }
            return new PagemapReader(image, path, head.PagesId);
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <summary>The next run, checked against the one before; false at the end.</summary>
    public bool TryRead(out PagemapRun run)
    {
        run = default;
        if (!_image.TryRead(PagemapEntry.Parser, out var entry))
        {
            return false;
        }
        // CRIU writes nr_pages; images from before it only compat_nr_pages (criu/pagemap.c).
        ulong pages = entry.HasNrPages ? entry.NrPages : entry.CompatNrPages;
        uint flags = entry.HasFlags ? entry.Flags : entry.InParent ? PagemapRun.InParent : PagemapRun.Present;
        if ((entry.Vaddr & (PageSize.Bytes - 1)) != 0 || pages == 0 || entry.Vaddr >= PageSize.UserAddressLimit ||
            pages > (PageSize.UserAddressLimit - entry.Vaddr) >> PageSize.Shift)
        {
            ThrowHelper.InvalidData(_path, _image.EntryOffset, $"a run of {pages} pages at 0x{entry.Vaddr:x} is not pages of user memory");
        }
        if (entry.Vaddr < _end)
        {
            ThrowHelper.InvalidData(_path, _image.EntryOffset, $"the run at 0x{entry.Vaddr:x} starts below the end of the run before it (0x{_end:x}): runs must be sorted and apart");
        }
        run = new PagemapRun(entry.Vaddr, (long)pages, flags);
        _end = run.End;
        return true;
    }

    /// <summary>The remaining runs, each checked as <see cref="TryRead"/> does.</summary>
    public IEnumerable<PagemapRun> ReadRuns()
    {
        while (TryRead(out var run))
        {
            yield return run;
        }
    }

    public void Dispose() => _image.Dispose();
}
