using Migrate.Engine.Images;
using Migrate.Engine.Memory;

using Migrate.Engine.Linux;

namespace Migrate.Engine.Tests.Memory;

public sealed class PrecopyImageChainTests : IDisposable
{
    private static readonly PageOwner Task77 = PageOwner.Task(77);
    private const ulong Base = 0x7f0000000000;

    private readonly TempDirectory _images = new();

    [Fact]
    public void A_first_round_is_a_set_of_present_pages_in_address_order_with_zero_pages_as_holes()
    {
        var chain = new PrecopyImageChain(_images.Path, new StorageAllowance("the test", long.MaxValue));

        using (var round = chain.BeginRound(1))
        {
            round.Store(Task77, [Page(0), Page(1)], Content(2, 0xA0), zeroAddresses: [Page(2)]);
            round.Store(Task77, [Page(3)], Content(1, 0xB0), zeroAddresses: []);
            round.Complete();
        }

        var pagemap = PagemapImage.Read(_images.Combine("pre-1", Task77.PagemapFileName));
        Assert.Equal([new PagemapRun(Page(0), 4, PagemapRun.Present)], pagemap.Runs);
        var pages = File.ReadAllBytes(_images.Combine("pre-1", pagemap.PagesFileName));
        Assert.Equal(4 * PageSize.Bytes, pages.Length);
        Assert.Equal(0xA0, pages[0]);
        Assert.Equal(0xA1, pages[PageSize.Bytes]);
        Assert.All(pages.AsSpan(2 * PageSize.Bytes, PageSize.Bytes).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(0xB0, pages[3 * PageSize.Bytes]);
        Assert.Equal("pre-1", chain.TopSet);
        Assert.False(File.Exists(_images.Combine("pre-1", "parent")));
    }

    [Fact]
    public void Shared_memory_is_kept_by_shmid_beside_the_tasks_and_later_rounds_name_it_in_the_parent()
    {
        var chain = new PrecopyImageChain(_images.Path, new StorageAllowance("the test", long.MaxValue));
        var segment = PageOwner.SharedMemory(0);
        using (var round = chain.BeginRound(1))
        {
            round.Store(Task77, [Page(0)], Content(1, 0x10), zeroAddresses: []);
            round.Store(segment, [0, PageSize.Bytes], Content(2, 0x20), zeroAddresses: []);
            round.Complete();
        }

        Round(chain, 2, [Page(0)]);

        var first = PagemapImage.Read(_images.Combine("pre-1", "pagemap-shmem-0.img"));
        Assert.Equal([new PagemapRun(0, 2, PagemapRun.Present)], first.Runs);
        Assert.NotEqual(PagemapImage.Read(_images.Combine("pre-1", Task77.PagemapFileName)).PagesId, first.PagesId);
        Assert.Equal(0x21, File.ReadAllBytes(_images.Combine("pre-1", first.PagesFileName))[PageSize.Bytes]);
        Assert.Equal([new PagemapRun(0, 2, PagemapRun.InParent)], PagemapImage.Read(_images.Combine("pre-2", "pagemap-shmem-0.img")).Runs);
        Assert.True(chain.Holds(segment, 0, 2));
        Assert.False(chain.Holds(segment, 0, 3));
        Assert.False(chain.Holds(PageOwner.SharedMemory(1), 0, 1));
    }

    [Fact]
    public void A_later_round_holds_what_changed_and_names_everything_else_as_in_its_parent()
    {
        var chain = new PrecopyImageChain(_images.Path, new StorageAllowance("the test", long.MaxValue));
        Round(chain, 1, [Page(0), Page(1), Page(2), Page(3)]);

        Round(chain, 2, [Page(1), Page(5)]);

        var pagemap = PagemapImage.Read(_images.Combine("pre-2", Task77.PagemapFileName));
        Assert.Equal(
        [
            new PagemapRun(Page(0), 1, PagemapRun.InParent),
            new PagemapRun(Page(1), 1, PagemapRun.Present),
            new PagemapRun(Page(2), 2, PagemapRun.InParent),
            new PagemapRun(Page(5), 1, PagemapRun.Present),
        ], pagemap.Runs);
        Assert.Equal(Path.Combine("..", "pre-1"), new FileInfo(_images.Combine("pre-2", "parent")).LinkTarget);
        Assert.True(chain.Holds(Task77, Page(0), 4));
        Assert.True(chain.Holds(Task77, Page(5), 1));
        Assert.False(chain.Holds(Task77, Page(3), 3));
        Assert.False(chain.Holds(PageOwner.Task(78), Page(0), 1));
    }

    [Fact]
    public void A_round_in_which_a_task_wrote_nothing_still_maps_all_its_pages_to_the_parent()
    {
        var chain = new PrecopyImageChain(_images.Path, new StorageAllowance("the test", long.MaxValue));
        Round(chain, 1, [Page(0), Page(1), Page(3)]);

        using (var round = chain.BeginRound(2))
        {
            round.Complete();
        }

        var pagemap = PagemapImage.Read(_images.Combine("pre-2", Task77.PagemapFileName));
        Assert.Equal(
        [
            new PagemapRun(Page(0), 2, PagemapRun.InParent),
            new PagemapRun(Page(3), 1, PagemapRun.InParent),
        ], pagemap.Runs);
        Assert.Equal(0, new FileInfo(_images.Combine("pre-2", pagemap.PagesFileName)).Length);
        Assert.Equal("pre-2", chain.TopSet);
        Assert.True(chain.Holds(Task77, Page(0), 2));
    }

    [Fact]
    public void Pages_out_of_address_order_are_refused_and_the_round_leaves_nothing()
    {
        var chain = new PrecopyImageChain(_images.Path, new StorageAllowance("the test", long.MaxValue));

        using (var round = chain.BeginRound(1))
        {
            round.Store(Task77, [Page(4)], Content(1, 1), []);
            Assert.Throws<InvalidDataException>(() => round.Store(Task77, [Page(2)], Content(1, 2), []));
        }

        Assert.False(Directory.Exists(_images.Combine("pre-1")));
        Assert.Null(chain.TopSet);
    }

    [Fact]
    public void Pages_past_the_allowance_are_refused()
    {
        var chain = new PrecopyImageChain(_images.Path, new StorageAllowance("the test", 2 * PageSize.Bytes));
        using var round = chain.BeginRound(1);

        Assert.Throws<StorageLimitException>(() => round.Store(Task77, [Page(0), Page(1), Page(2)], Content(3, 0), []));
    }

    [Fact]
    public void A_round_cannot_be_sent_twice()
    {
        var chain = new PrecopyImageChain(_images.Path, new StorageAllowance("the test", long.MaxValue));
        Round(chain, 1, [Page(0)]);

        Assert.Throws<InvalidDataException>(() => chain.BeginRound(1));
    }

    public void Dispose() => _images.Dispose();

    private static void Round(PrecopyImageChain chain, int number, ulong[] addresses)
    {
        using var round = chain.BeginRound(number);
        round.Store(Task77, addresses, Content(addresses.Length, (byte)(number * 16)), []);
        round.Complete();
    }

    private static ulong Page(int index) => Base + ((ulong)index << PageSize.Shift);

    /// <summary>Pages whose first byte counts up from <paramref name="first"/>.</summary>
    private static byte[] Content(int pages, byte first)
    {
        var bytes = new byte[pages * PageSize.Bytes];
        for (int i = 0; i < pages; i++)
        {
            bytes[i * PageSize.Bytes] = (byte)(first + i);
        }
        return bytes;
    }
}
