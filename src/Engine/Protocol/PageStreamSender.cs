using Grpc.Core;
using Migrate.Engine.Memory;
using Migrate.Protocol;

using Migrate.Engine.Linux;

namespace Migrate.Engine.Protocol;

/// <summary>
/// Streams the batches a scanner produces. Scanning and hashing run a few
/// batches ahead of compression and the network, so reading, hashing,
/// compressing and sending overlap.
/// </summary>
internal static class PageStreamSender
{
    private const int BatchesInFlight = 4;

    public static async Task<PageStreamStats> SendAsync(
        IAsyncStreamWriter<PageStreamMessage> writer,
        string sessionId,
        PageRound round,
        PageScan scan,
        IProgress<long>? bytesSent,
        CancellationToken cancellationToken)
    {
        var begin = new PageStreamMessage { Begin = new PageStreamBegin { SessionId = sessionId, Round = (uint)round.Number, ImageChain = round.ImageChain } };
        await writer.WriteAsync(begin, cancellationToken).ConfigureAwait(false);
        long pages = 0, zero = 0, onWire = begin.CalculateSize();
        var counts = await BoundedPipeline.RunAsync<PageBatchBuilder, SiftCounts>(BatchesInFlight, scan.Invoke, async (builder, token) =>
        {
            // The frame points into the builder's buffer or a pooled one: both
            // live until the write has handed the bytes to the transport.
            using var frame = FrameCodec.Encode(builder.Pages);
            var message = ToMessage(builder, frame.Frame);
            await writer.WriteAsync(message, token).ConfigureAwait(false);
            pages += builder.Count;
            zero += builder.ZeroAddresses.Count;
            onWire += message.CalculateSize();
            bytesSent?.Report(pages * PageSize.Bytes);
        }, cancellationToken).ConfigureAwait(false);
        var end = new PageStreamMessage { End = new PageStreamEnd { Pages = (ulong)pages, ZeroPages = (ulong)zero } };
        await writer.WriteAsync(end, cancellationToken).ConfigureAwait(false);
        onWire += end.CalculateSize();
        return new PageStreamStats(counts, pages, zero, pages * PageSize.Bytes, onWire);
    }

    private static PageStreamMessage ToMessage(PageBatchBuilder builder, Frame pages)
    {
        var batch = new PageBatch { Pid = builder.Owner.Pid, Pages = pages };
        if (builder.Owner.SharedMemoryId is { } shmid)
        {
            batch.Shmid = shmid;
        }
        batch.Addresses.Add(builder.Addresses.ToArray());
        batch.ZeroAddresses.Add(builder.ZeroAddresses);
        return new PageStreamMessage { Batch = batch };
    }
}
