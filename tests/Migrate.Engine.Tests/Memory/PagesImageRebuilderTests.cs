using System.Threading.Channels;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.Engine.Tests.Images;

namespace Migrate.Engine.Tests.Memory;

/// <summary>
/// The target rebuilds CRIU's pages image from the pages it holds. Checked on
/// the images CRIU 4.2.1 wrote for a real process: the result must be CRIU's
/// own file, byte for byte.
/// </summary>
public sealed class PagesImageRebuilderTests : IDisposable
{
    private const int Pid = 20004;
    private readonly TempDirectory _directory = new();
    private readonly PagemapImage _pagemap = PagemapImage.Read(Path.Combine(ImageReaderTests.RecordedDump, PagemapImage.FileName(Pid)));
    private readonly string _pagesFile = Path.Combine(ImageReaderTests.RecordedDump, "pages-1.img");

    [Fact]
    public async Task Pages_sent_in_rounds_and_a_final_diff_rebuild_criu_s_image_exactly()
    {
        using var store = new PageStore(_directory.Combine("store"), new StorageAllowance("the test", 1 << 30));
        var held = new PageHashes();
        // An earlier round sent every page, some of them since rewritten.
        await StoreAsync(store, held, StaleCopy());
        // The final diff sends what differs from CRIU's dump.
        var final = await StoreAsync(store, held, _pagesFile);

        var rebuilt = _directory.Combine("pages-1.img");
        long written = PagesImageRebuilder.Rebuild(store, Pid, _pagemap.Runs, rebuilt);

        Assert.Equal(_pagemap.PresentPages * PageSize.Bytes, written);
        Assert.Equal(await File.ReadAllBytesAsync(_pagesFile), await File.ReadAllBytesAsync(rebuilt));
        Assert.InRange(final.Changed, 1, _pagemap.PresentPages / 2);
    }

    [Fact]
    public async Task A_page_the_target_never_received_is_named()
    {
        using var store = new PageStore(_directory.Combine("store"), new StorageAllowance("the test", 1 << 30));
        var first = _pagemap.Runs.First(run => run.InPagesFile);
        await StoreAsync(store, new PageHashes(), _pagesFile);
        using var partial = new PageStore(_directory.Combine("partial"), new StorageAllowance("the test", 1 << 30));
        var pages = new byte[(first.Pages - 1) * PageSize.Bytes];
        store.TryRead(Pid, first.Address, (int)first.Pages - 1, pages);
        partial.Write(Pid, Enumerable.Range(0, (int)first.Pages - 1).Select(i => first.Address + (ulong)i * PageSize.Bytes).ToArray(), pages);

        var e = Assert.Throws<InvalidDataException>(() =>
            PagesImageRebuilder.Rebuild(partial, Pid, _pagemap.Runs, _directory.Combine("pages-1.img")));

        Assert.Contains($"0x{first.Address + (ulong)(first.Pages - 1) * PageSize.Bytes:x}", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_directory.Combine("pages-1.img")), "a failed rebuild leaves no pages image");
    }

    public void Dispose() => _directory.Dispose();

    /// <summary>Scans a pages file as the final diff does, and stores what it sends as the target does.</summary>
    private async Task<SiftCounts> StoreAsync(PageStore store, PageHashes held, string pagesFile)
    {
        var batches = Channel.CreateUnbounded<PageBatchBuilder>();
        var counts = await PageScanner.ScanDumpAsync(Pid, _pagemap, pagesFile, held, batches.Writer, CancellationToken.None);
        batches.Writer.Complete();
        await foreach (var batch in batches.Reader.ReadAllAsync())
        {
            using (batch)
            {
                store.Write(batch.Owner.Pid, batch.Addresses, batch.Pages.Span);
                store.WriteZero(batch.Owner.Pid, batch.ZeroAddresses.ToArray());
            }
        }
        return counts;
    }

    /// <summary>CRIU's pages with every third page changed, as if the process wrote them after a round.</summary>
    private string StaleCopy()
    {
        var bytes = File.ReadAllBytes(_pagesFile);
        for (int page = 0; page < bytes.Length / PageSize.Bytes; page += 3)
        {
            bytes[page * PageSize.Bytes + 17] ^= 0x5a;
        }
        var path = _directory.Combine("stale-pages.img");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
