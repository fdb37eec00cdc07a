using Migrate.Engine.Images;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// --uprobes strip: writes each site's original byte back into the pages
/// image that holds the site's page, so the process restores unprobed. A page
/// a soft-dirty dump left in an earlier pre-dump is found through the
/// images' parent links, as CRIU would find it.
/// </summary>
public static class UprobeStrip
{
    public static void Apply(string imagesDirectory, IEnumerable<UprobeSite> sites)
    {
        foreach (var site in sites)
        {
            if (site.Pid <= 0)
            {
                throw new InvalidDataException($"refused uprobe site for PID {site.Pid}");
            }
            var (pagesFile, offset) = Locate(imagesDirectory, site);
            using var pages = File.OpenHandle(pagesFile, FileMode.Open, FileAccess.Write);
            RandomAccess.Write(pages, [site.OriginalByte], offset);
        }
    }

    private static (string PagesFile, long Offset) Locate(string imagesDirectory, UprobeSite site)
    {
        ulong page = site.Address & ~(ulong)(PageSize.Bytes - 1);
        for (string? directory = imagesDirectory; directory is not null; directory = Parent(directory))
        {
            var pagemapPath = Path.Combine(directory, PagemapImage.FileName(site.Pid));
            if (!File.Exists(pagemapPath))
            {
                break;
            }
            // The images are the peer's: read run by run, never whole.
            using var pagemap = PagemapReader.Open(pagemapPath);
            long before = 0;
            foreach (var run in pagemap.ReadRuns())
            {
                ulong end = run.Address + ((ulong)run.Pages << PageSize.Shift);
                if (page >= run.Address && page < end)
                {
                    if (!run.InPagesFile)
                    {
                        break; // in the parent's images
                    }
                    long index = before + (long)((page - run.Address) >> PageSize.Shift);
                    return (Path.Combine(directory, pagemap.PagesFileName), index * PageSize.Bytes + (long)(site.Address - page));
                }
                if (run.InPagesFile)
                {
                    before += run.Pages;
                }
            }
        }
        throw new InvalidDataException($"the images hold no page for the uprobe site at 0x{site.Address:x} of task {site.Pid}");
    }

    private static string? Parent(string directory)
    {
        var link = new FileInfo(Path.Combine(directory, "parent"));
        return link.LinkTarget is { } target ? Path.GetFullPath(Path.Combine(directory, target)) : null;
    }
}
