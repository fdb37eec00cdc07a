using System.Buffers;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.Protocol;

namespace Migrate.Engine.Protocol;

/// <summary>
/// Receives one page stream into the target's <see cref="PageStore"/>. The
/// counts, sizes and addresses come from the network and are checked before
/// they are used.
/// </summary>
public static class PageStreamReceiver
{
    /// <param name="messages">The stream after its <see cref="PageStreamBegin"/>.</param>
    public static async Task<PageStreamSummary> ReceiveAsync(
        IAsyncEnumerable<PageStreamMessage> messages, IPageSink store, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(PageBatchBuilder.MaxPages * PageSize.Bytes);
        long pages = 0, zero = 0, onWire = 0;
        try
        {
            await foreach (var message in messages.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                onWire += message.CalculateSize();
                switch (message.KindCase)
                {
                    case PageStreamMessage.KindOneofCase.Batch:
                        Store(message.Batch, store, buffer);
                        pages += message.Batch.Addresses.Count;
                        zero += message.Batch.ZeroAddresses.Count;
                        break;
                    case PageStreamMessage.KindOneofCase.End:
                        if (message.End.Pages != (ulong)pages || message.End.ZeroPages != (ulong)zero)
                        {
                            throw new TransferRejectedException(TransferRejection.Incomplete,
                                $"{pages} pages and {zero} zero pages arrived, the stream's end says {message.End.Pages} and {message.End.ZeroPages}");
                        }
                        return new PageStreamSummary { Pages = (ulong)pages, ZeroPages = (ulong)zero, BytesOnWire = (ulong)onWire };
                    default:
                        throw Malformed($"unexpected {message.KindCase} message inside a page stream");
                }
            }
            throw new TransferRejectedException(TransferRejection.Incomplete, "the page stream ended before its end message");
        }
        catch (StorageLimitException e)
        {
            throw new TransferRejectedException(TransferRejection.TooLarge, $"the pages were refused: {e.Message}", e);
        }
        catch (InvalidDataException e)
        {
            throw new TransferRejectedException(TransferRejection.Malformed, e.Message, e);
        }
        catch (IOException e)
        {
            throw new TransferRejectedException(TransferRejection.StorageFailed, $"cannot store pages: {e.Message}", e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void Store(PageBatch batch, IPageSink store, byte[] buffer)
    {
        var owner = Owner(batch);
        if (batch.Addresses.Count > PageBatchBuilder.MaxPages || batch.ZeroAddresses.Count > PageBatchBuilder.MaxZeroPages)
        {
            throw new TransferRejectedException(TransferRejection.TooLarge,
                $"page batch of {batch.Addresses.Count} pages and {batch.ZeroAddresses.Count} zero pages exceeds {PageBatchBuilder.MaxPages} and {PageBatchBuilder.MaxZeroPages}");
        }
        CheckAddresses(batch.Addresses);
        CheckAddresses(batch.ZeroAddresses);
        int expected = batch.Addresses.Count * PageSize.Bytes;
        if (batch.Pages is null ? expected != 0 : batch.Pages.RawLength != expected)
        {
            throw Malformed($"page batch states {batch.Pages?.RawLength ?? 0} bytes for {batch.Addresses.Count} pages");
        }
        if (expected > 0)
        {
            try
            {
                FrameCodec.Decode(batch.Pages, buffer, expected);
            }
            catch (FrameException e)
            {
                throw new TransferRejectedException(e.ExceedsLimit ? TransferRejection.TooLarge : TransferRejection.Corrupt,
                    $"page batch for {owner}: {e.Message}", e);
            }
        }
        store.Store(owner, batch.Addresses.ToArray(), buffer.AsSpan(0, expected), batch.ZeroAddresses.ToArray());
    }

    /// <summary>A task (a positive PID) or a shared memory object (a shmid and PID 0), never both.</summary>
    private static PageOwner Owner(PageBatch batch) => batch switch
    {
        { HasShmid: true, Pid: 0 } => PageOwner.SharedMemory(batch.Shmid),
        { HasShmid: false, Pid: > 0 } => PageOwner.Task(batch.Pid),
        _ => throw Malformed(batch.HasShmid ? $"page batch for PID {batch.Pid} and shared memory {batch.Shmid}" : $"page batch for PID {batch.Pid}"),
    };

    private static void CheckAddresses(IEnumerable<ulong> addresses)
    {
        foreach (var address in addresses)
        {
            if ((address & (PageSize.Bytes - 1)) != 0 || address >= PageSize.UserAddressLimit)
            {
                throw Malformed($"page address 0x{address:x} is not a page of user memory");
            }
        }
    }

    private static TransferRejectedException Malformed(string message) => new(TransferRejection.Malformed, message);
}
