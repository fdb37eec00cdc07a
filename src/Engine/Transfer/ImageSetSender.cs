using System.Buffers;
using System.Threading.Channels;
using Grpc.Core;
using Migrate.Protocol;

namespace Migrate.Engine.Transfer;

/// <summary>
/// Streams the files of one CRIU image directory as an image set. Reading and
/// compressing run ahead of the network on their own task, a few chunks deep,
/// so both cores work; HTTP/2 flow control paces the writer.
/// </summary>
public sealed class ImageSetSender(int chunkBytes)
{
    private const int ChunksInFlight = 4;

    public async Task<TransferStats> SendAsync(
        IAsyncStreamWriter<ImageStreamMessage> writer,
        string sessionId,
        string set,
        string directory,
        IProgress<long>? bytesSent,
        CancellationToken cancellationToken)
    {
        var files = new DirectoryInfo(directory).EnumerateFiles()
            .Where(file => file.LinkTarget is null)
            .OrderBy(file => file.Name, StringComparer.Ordinal)
            .ToList();
        foreach (var file in files.Where(file => !ImageNames.IsValidFileName(file.Name)))
        {
            throw new InvalidOperationException($"image file name '{file.Name}' in {directory} cannot be sent");
        }

        using var producerStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var chunks = Channel.CreateBounded<ImageStreamMessage>(
            new BoundedChannelOptions(ChunksInFlight) { SingleReader = true, SingleWriter = true });
        var producer = Task.Run(() => ProduceAsync(files, chunks.Writer, producerStop.Token), producerStop.Token);

        long raw = 0, onWire = 0;
        try
        {
            await writer.WriteAsync(Message(new ImageSetBegin { SessionId = sessionId, Set = set }), cancellationToken)
                .ConfigureAwait(false);
            await foreach (var message in chunks.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await writer.WriteAsync(message, cancellationToken).ConfigureAwait(false);
                raw += message.Chunk.Frame.RawLength;
                onWire += message.CalculateSize();
                bytesSent?.Report(raw);
            }
            await producer.ConfigureAwait(false);

            var end = new ImageSetEnd { TotalBytes = (ulong)files.Sum(file => file.Length) };
            end.Files.AddRange(files.Select(file => new ImageFile { Name = file.Name, Size = (ulong)file.Length }));
            var endMessage = Message(end);
            await writer.WriteAsync(endMessage, cancellationToken).ConfigureAwait(false);
            onWire += endMessage.CalculateSize();
        }
        finally
        {
            await producerStop.CancelAsync().ConfigureAwait(false);
            await producer.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }
        return new TransferStats(files.Count, raw, onWire);
    }

    private async Task ProduceAsync(
        IReadOnlyList<FileInfo> files, ChannelWriter<ImageStreamMessage> output, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(chunkBytes);
        try
        {
            foreach (var file in files)
            {
                using var handle = File.OpenHandle(file.FullName);
                long offset = 0;
                while (true)
                {
                    int read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, chunkBytes), offset, cancellationToken)
                        .ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }
                    var chunk = new ImageChunk { File = file.Name, Offset = (ulong)offset, Frame = FrameCodec.Encode(buffer.AsSpan(0, read)) };
                    await output.WriteAsync(new ImageStreamMessage { Chunk = chunk }, cancellationToken).ConfigureAwait(false);
                    offset += read;
                }
            }
            output.Complete();
        }
        catch (Exception e)
        {
            output.Complete(e);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static ImageStreamMessage Message(ImageSetBegin begin) => new() { Begin = begin };

    private static ImageStreamMessage Message(ImageSetEnd end) => new() { End = end };
}
