using Migrate.Engine.Images;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Tests.Memory;

public sealed class PageBatchBuilderTests
{
    private const int Page = PageSize.Bytes;

    [Fact]
    public void New_pages_are_kept_in_order_and_zero_pages_become_markers()
    {
        using var builder = new PageBatchBuilder(PageOwner.Task(7));
        var held = new PageHashes();
        var pages = TestBytes.Random(4 * Page, seed: 1);
        pages.AsSpan(Page, Page).Clear();
        pages.CopyTo(builder.Free);

        var counts = builder.Sift(0x1000, 4, held);

        Assert.Equal(new SiftCounts(Scanned: 4, Changed: 4, Zero: 1), counts);
        Assert.Equal([0x1000ul, 0x3000, 0x4000], builder.Addresses.ToArray());
        Assert.Equal([0x2000ul], builder.ZeroAddresses);
        Assert.Equal(pages.AsSpan(0, Page).ToArray(), builder.Pages.Span[..Page].ToArray());
        Assert.Equal(pages.AsSpan(2 * Page, 2 * Page).ToArray(), builder.Pages.Span[Page..].ToArray());
    }

    [Fact]
    public void Pages_the_target_already_holds_are_dropped_and_changed_ones_kept()
    {
        var held = new PageHashes();
        var first = TestBytes.Random(3 * Page, seed: 2);
        using (var round1 = new PageBatchBuilder(PageOwner.Task(7)))
        {
            first.CopyTo(round1.Free);
            round1.Sift(0x10000, 3, held);
        }
        var second = (byte[])first.Clone();
        second[Page + 100] ^= 1;

        using var round2 = new PageBatchBuilder(PageOwner.Task(7));
        second.CopyTo(round2.Free);
        var counts = round2.Sift(0x10000, 3, held);

        Assert.Equal(new SiftCounts(3, Changed: 1, Zero: 0), counts);
        Assert.Equal([0x11000ul], round2.Addresses.ToArray());
        Assert.Equal(second.AsSpan(Page, Page).ToArray(), round2.Pages.ToArray());
    }

    [Fact]
    public void A_page_that_stays_zero_is_sent_once()
    {
        var held = new PageHashes();
        using var round1 = new PageBatchBuilder(PageOwner.Task(7));
        round1.Free[..Page].Clear();
        round1.Sift(0x5000, 1, held);
        using var round2 = new PageBatchBuilder(PageOwner.Task(7));
        round2.Free[..Page].Clear();

        var counts = round2.Sift(0x5000, 1, held);

        Assert.Equal([0x5000ul], round1.ZeroAddresses);
        Assert.Equal(new SiftCounts(1, 0, 0), counts);
        Assert.True(round2.IsEmpty);
    }

    [Fact]
    public void Zero_pages_never_grow_a_batch_beyond_what_the_target_accepts()
    {
        using var builder = new PageBatchBuilder(PageOwner.Task(7));
        TestBytes.Random(3 * Page, seed: 3).CopyTo(builder.Free);
        builder.Keep(0, 3);
        ulong address = 3 * Page;
        // Then reads of as many pages as the batch has room for, all zero, as a large untouched area reads.
        while (!builder.IsFull)
        {
            int take = builder.FreePages;
            builder.Free[..(take * Page)].Clear();
            builder.Keep(address, take);
            address += (ulong)take * Page;
        }

        Assert.Equal(PageBatchBuilder.MaxZeroPages, builder.ZeroAddresses.Count);
        Assert.Equal(3, builder.Count);
    }

    [Fact]
    public void Room_for_pages_shrinks_as_zero_pages_fill_their_quota()
    {
        using var builder = new PageBatchBuilder(PageOwner.Task(7));
        int zeros = PageBatchBuilder.MaxZeroPages - 10;
        for (ulong done = 0; done < (ulong)zeros;)
        {
            int take = (int)Math.Min((ulong)builder.FreePages, (ulong)zeros - done);
            builder.Free[..(take * Page)].Clear();
            builder.Keep(done * Page, take);
            done += (ulong)take;
        }

        Assert.Equal(10, builder.FreePages);
    }

    [Fact]
    public void More_pages_than_fit_are_refused()
    {
        using var builder = new PageBatchBuilder(PageOwner.Task(7));

        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Sift(0, PageBatchBuilder.MaxPages + 1, new PageHashes()));
    }
}
