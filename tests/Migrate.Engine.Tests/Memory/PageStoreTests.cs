using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Tests.Memory;

public sealed class PageStoreTests : IDisposable
{
    private const int Page = PageSize.Bytes;
    private readonly TempDirectory _directory = new();

    [Fact]
    public void A_page_sent_again_replaces_the_old_content()
    {
        using var store = new PageStore(_directory.Combine("store"), new StorageAllowance("the test", 1 << 20));
        var old = TestBytes.Random(2 * Page, seed: 1);
        var fresh = TestBytes.Random(Page, seed: 2);
        store.Write(1, [0x1000, 0x2000], old);

        store.Write(1, [0x2000], fresh);

        var read = new byte[2 * Page];
        Assert.Equal(2, store.TryRead(1, 0x1000, 2, read));
        Assert.Equal(old.AsSpan(0, Page).ToArray(), read.AsSpan(0, Page).ToArray());
        Assert.Equal(fresh, read.AsSpan(Page).ToArray());
        Assert.Equal(2 * Page, store.BytesStored);
    }

    [Fact]
    public void Tasks_are_kept_apart_and_zero_pages_read_back_as_zeros()
    {
        using var store = new PageStore(_directory.Combine("store"), new StorageAllowance("the test", 1 << 20));
        store.Write(1, [0x1000], TestBytes.Random(Page, seed: 3));
        store.WriteZero(2, [0x1000]);

        var read = TestBytes.Random(Page, seed: 4);
        Assert.True(store.TryRead(2, 0x1000, read));

        Assert.All(read, b => Assert.Equal(0, b));
        Assert.False(store.TryRead(3, 0x1000, read));
    }

    [Fact]
    public void Reading_stops_at_the_first_page_never_received()
    {
        using var store = new PageStore(_directory.Combine("store"), new StorageAllowance("the test", 1 << 20));
        store.Write(1, [0x1000, 0x2000, 0x4000], TestBytes.Random(3 * Page, seed: 5));

        Assert.Equal(2, store.TryRead(1, 0x1000, 4, new byte[4 * Page]));
    }

    [Fact]
    public void The_store_refuses_pages_beyond_its_limit()
    {
        using var store = new PageStore(_directory.Combine("store"), new StorageAllowance("the test", 2 * Page));
        store.Write(1, [0x1000, 0x2000], TestBytes.Random(2 * Page, seed: 6));

        Assert.Throws<StorageLimitException>(() => store.Write(1, [0x3000], TestBytes.Random(Page, seed: 7)));
        // Rewriting a page it holds costs no room.
        store.Write(1, [0x1000], TestBytes.Random(Page, seed: 8));
    }

    public void Dispose() => _directory.Dispose();
}
