using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.Protocol;

namespace Migrate.Engine.Transfer;

/// <summary>What one page stream moved.</summary>
public readonly record struct PageStreamStats(SiftCounts Counts, long PagesSent, long ZeroPages, long BytesRaw, long BytesOnWire);

/// <summary>
/// Streams the batches a scanner produces. Scanning and hashing run on their
/// own task, a few batches ahead of compression and the network, so reading,
/// hashing, compressing and sending overlap.
/// </summary>
public static class PageStreamSender
{
    private const int BatchesInFlight = 4;

    public delegate Task<SiftCounts> Scan(ChannelWriter<PageBatchBuilder> output, CancellationToken cancellationToken);

    public static async Task<PageStreamStats> SendAsync(
        IAsyncStreamWriter<PageStreamMessage> writer,
        string sessionId,
        uint round,
        Scan scan,
        IProgress<long>? bytesSent,
        CancellationToken cancellationToken)
    {
        using var scannerStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var batches = Channel.CreateBounded<PageBatchBuilder>(
            new BoundedChannelOptions(BatchesInFlight) { SingleReader = true, SingleWriter = true });
        var scanner = Task.Run(async () =>
        {
            try
            {
                var counts = await scan(batches.Writer, scannerStop.Token).ConfigureAwait(false);
                batches.Writer.Complete();
                return counts;
            }
            catch (Exception e)
            {
                batches.Writer.Complete(e);
                throw;
            }
        }, scannerStop.Token);

        long pages = 0, zero = 0, onWire = 0;
        try
        {
            var begin = new PageStreamMessage { Begin = new PageStreamBegin { SessionId = sessionId, Round = round } };
            await writer.WriteAsync(begin, cancellationToken).ConfigureAwait(false);
            onWire += begin.CalculateSize();
            await foreach (var builder in batches.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                // The frame points into the builder's buffer or a pooled one: both
                // live until the write has handed the bytes to the transport.
                using (builder)
                using (var frame = FrameCodec.Encode(builder.Pages))
                {
                    var message = ToMessage(builder, frame.Frame);
                    await writer.WriteAsync(message, cancellationToken).ConfigureAwait(false);
                    pages += builder.Count;
                    zero += builder.ZeroAddresses.Count;
                    onWire += message.CalculateSize();
                }
                bytesSent?.Report(pages * PageSize.Bytes);
            }
            var counts = await scanner.ConfigureAwait(false);
            var end = new PageStreamMessage { End = new PageStreamEnd { Pages = (ulong)pages, ZeroPages = (ulong)zero } };
            await writer.WriteAsync(end, cancellationToken).ConfigureAwait(false);
            onWire += end.CalculateSize();
            return new PageStreamStats(counts, pages, zero, pages * PageSize.Bytes, onWire);
        }
        finally
        {
            await scannerStop.CancelAsync().ConfigureAwait(false);
            await scanner.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            // Batches the network never took still hold pooled buffers.
            while (batches.Reader.TryRead(out var unsent))
            {
                unsent.Dispose();
            }
        }
    }

    private static PageStreamMessage ToMessage(PageBatchBuilder builder, Frame pages)
    {
        var batch = new PageBatch { Pid = builder.Pid, Pages = pages };
        batch.Addresses.Add(builder.Addresses.ToArray());
        batch.ZeroAddresses.Add(builder.ZeroAddresses);
        return new PageStreamMessage { Batch = batch };
    }
}
