using Google.Protobuf;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;
using Migrate.Protocol;

namespace Migrate.Engine.Tests.Protocol;

/// <summary>The target treats every count, size and address of a page stream as hostile.</summary>
public sealed class PageStreamReceiverTests : IDisposable
{
    private const int Page = PageSize.Bytes;
    private readonly TempDirectory _directory = new();
    private readonly PageStore _store;

    public PageStreamReceiverTests() => _store = new PageStore(_directory.Combine("store"), new StorageAllowance("the test", 64 << 20));

    [Fact]
    public async Task A_well_formed_stream_is_stored()
    {
        var pages = TestBytes.Random(2 * Page, seed: 1);

        var summary = await Receive(Batch(9, [0x7000, 0x8000], pages, zero: [0x9000]), End(2, 1));

        Assert.Equal(2ul, summary.Pages);
        Assert.Equal(1ul, summary.ZeroPages);
        var read = new byte[3 * Page];
        Assert.Equal(3, _store.TryRead(9, 0x7000, 3, read));
        Assert.Equal(pages, read.AsSpan(0, 2 * Page).ToArray());
    }

    [Fact]
    public async Task A_stream_without_its_end_is_incomplete()
    {
        var e = await Refused(Batch(9, [0x7000], TestBytes.Random(Page, seed: 1)));

        Assert.Equal(TransferRejection.Incomplete, e.Reason);
    }

    [Fact]
    public async Task An_end_whose_counts_differ_from_what_arrived_is_incomplete()
    {
        var e = await Refused(Batch(9, [0x7000], TestBytes.Random(Page, seed: 1)), End(2, 0));

        Assert.Equal(TransferRejection.Incomplete, e.Reason);
    }

    [Theory]
    [InlineData(0x7001ul)]
    [InlineData(1ul << 57)]
    [InlineData(ulong.MaxValue - 4095)]
    public async Task Addresses_that_are_not_user_pages_are_refused(ulong address)
    {
        var e = await Refused(Batch(9, [address], TestBytes.Random(Page, seed: 1)), End(1, 0));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Fact]
    public async Task A_zero_page_address_that_is_not_a_user_page_is_refused()
    {
        var e = await Refused(Batch(9, [], [], zero: [0x123]), End(0, 1));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public async Task A_batch_for_no_real_task_is_refused(int pid)
    {
        var e = await Refused(Batch(pid, [0x7000], TestBytes.Random(Page, seed: 1)), End(1, 0));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Fact]
    public async Task A_batch_of_more_pages_than_allowed_is_refused()
    {
        var count = PageBatchBuilder.MaxPages + 1;
        var addresses = Enumerable.Range(0, count).Select(i => 0x100000ul + (ulong)i * Page).ToArray();

        var e = await Refused(Batch(9, addresses, TestBytes.Repeating(count * Page)), End(count, 0));

        Assert.Equal(TransferRejection.TooLarge, e.Reason);
    }

    [Fact]
    public async Task A_batch_whose_data_does_not_match_its_page_count_is_refused()
    {
        var e = await Refused(Batch(9, [0x7000, 0x8000], TestBytes.Random(Page, seed: 1)), End(2, 0));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Fact]
    public async Task A_corrupt_batch_is_refused()
    {
        var batch = Batch(9, [0x7000], TestBytes.Random(Page, seed: 1));
        batch.Batch.Pages.Checksum ^= 1;

        var e = await Refused(batch, End(1, 0));

        Assert.Equal(TransferRejection.Corrupt, e.Reason);
    }

    [Theory]
    [InlineData(9, true)]
    [InlineData(0, false)]
    [InlineData(-1, false)]
    public async Task A_batch_must_name_one_task_or_one_shared_memory_object(int pid, bool shmid)
    {
        var batch = Batch(pid, [0x7000], TestBytes.Random(Page, seed: 3));
        if (shmid)
        {
            batch.Batch.Shmid = 4;
        }

        var e = await Refused(batch, End(1, 0));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Fact]
    public async Task Shared_memory_pages_are_refused_by_a_round_that_keeps_only_tasks_pages()
    {
        var batch = Batch(0, [0x7000], TestBytes.Random(Page, seed: 4));
        batch.Batch.Shmid = 4;

        var e = await Refused(batch, End(1, 0));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
        Assert.Equal(0, _store.Pages);
    }

    [Fact]
    public async Task Pages_beyond_the_session_limit_are_refused()
    {
        using var small = new PageStore(_directory.Combine("small"), new StorageAllowance("the test", Page));

        var e = await Assert.ThrowsAsync<TransferRejectedException>(() => PageStreamReceiver.ReceiveAsync(
            Stream(Batch(9, [0x7000, 0x8000], TestBytes.Random(2 * Page, seed: 1)), End(2, 0)), small, CancellationToken.None));

        Assert.Equal(TransferRejection.TooLarge, e.Reason);
    }

    public void Dispose()
    {
        _store.Dispose();
        _directory.Dispose();
    }

    private Task<PageStreamSummary> Receive(params PageStreamMessage[] messages) =>
        PageStreamReceiver.ReceiveAsync(Stream(messages), _store, CancellationToken.None);

    private Task<TransferRejectedException> Refused(params PageStreamMessage[] messages) =>
        Assert.ThrowsAsync<TransferRejectedException>(() => Receive(messages));

    private static PageStreamMessage Batch(int pid, ulong[] addresses, byte[] pages, ulong[]? zero = null)
    {
        var batch = new PageBatch { Pid = pid, Pages = pages.Length > 0 ? FrameCodec.Encode(pages).Frame : null };
        batch.Addresses.Add(addresses);
        batch.ZeroAddresses.Add(zero ?? []);
        return new PageStreamMessage { Batch = batch };
    }

    private static PageStreamMessage End(int pages, int zero) =>
        new() { End = new PageStreamEnd { Pages = (ulong)pages, ZeroPages = (ulong)zero } };

    private static async IAsyncEnumerable<PageStreamMessage> Stream(params PageStreamMessage[] messages)
    {
        foreach (var message in messages)
        {
            await Task.Yield();
            yield return PageStreamMessage.Parser.ParseFrom(message.ToByteArray());
        }
    }
}
