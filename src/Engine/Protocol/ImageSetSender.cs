using System.Buffers;
using System.Threading.Channels;
using Grpc.Core;
using Migrate.Engine.Memory;
using Migrate.Protocol;

namespace Migrate.Engine.Protocol;

/// <summary>
/// Streams the files of one CRIU image directory as an image set. Reading and
/// compressing run ahead of the network on their own task, a few chunks deep,
/// so both cores work; HTTP/2 flow control paces the writer.
/// </summary>
internal sealed class ImageSetSender(int chunkBytes)
{
    private const int ChunksInFlight = 4;

    /// <param name="exclude">Names of files to leave out (the target rebuilds them).</param>
    public async Task<TransferStats> SendAsync(
        IAsyncStreamWriter<ImageStreamMessage> writer,
        ImageSetBegin begin,
        string directory,
        IReadOnlySet<string> exclude,
        IProgress<long>? bytesSent,
        CancellationToken cancellationToken)
    {
        // Symbolic links (CRIU's "parent") are recreated by the target from the set's parent name.
        var files = new DirectoryInfo(directory).EnumerateFiles()
            .Where(file => file.LinkTarget is null && !exclude.Contains(file.Name))
            .OrderBy(file => file.Name, StringComparer.Ordinal)
            .ToList();
        foreach (var file in files.Where(file => !ImageNames.IsValidFileName(file.Name)))
        {
            throw new InvalidOperationException($"image file name '{file.Name}' in {directory} cannot be sent");
        }

        await writer.WriteAsync(Message(begin), cancellationToken).ConfigureAwait(false);
        long raw = 0, onWire = 0;
        await BoundedPipeline.RunAsync<OutgoingChunk, bool>(ChunksInFlight, (output, token) => ProduceAsync(files, output, token),
            async (chunk, token) =>
            {
                await writer.WriteAsync(chunk.Message, token).ConfigureAwait(false);
                raw += chunk.Message.Chunk.Frame.RawLength;
                onWire += chunk.Message.CalculateSize();
                bytesSent?.Report(raw);
            }, cancellationToken).ConfigureAwait(false);

        var end = new ImageSetEnd { TotalBytes = (ulong)files.Sum(file => file.Length) };
        end.Files.AddRange(files.Select(file => new ImageFile { Name = file.Name, Size = (ulong)file.Length }));
        var endMessage = Message(end);
        await writer.WriteAsync(endMessage, cancellationToken).ConfigureAwait(false);
        onWire += endMessage.CalculateSize();
        return new TransferStats(files.Count, raw, onWire);
    }

    private async Task<bool> ProduceAsync(IReadOnlyList<FileInfo> files, ChannelWriter<OutgoingChunk> output, CancellationToken cancellationToken)
    {
        foreach (var file in files)
        {
            using var handle = File.OpenHandle(file.FullName);
            long offset = 0;
            while (true)
            {
                // Each chunk in flight owns its buffer: the frame may point into it.
                var buffer = ArrayPool<byte>.Shared.Rent(chunkBytes);
                int read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, chunkBytes), offset, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }
                var chunk = new OutgoingChunk(file.Name, offset, buffer, read);
                try
                {
                    await output.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    chunk.Dispose();
                    throw;
                }
                offset += read;
            }
        }
        return true;
    }

    /// <summary>A chunk's message and the pooled memory its frame points into.</summary>
    private sealed class OutgoingChunk : IDisposable
    {
        private readonly byte[] _buffer;
        private readonly OutgoingFrame _frame;

        public OutgoingChunk(string file, long offset, byte[] buffer, int length)
        {
            _buffer = buffer;
            _frame = FrameCodec.Encode(buffer.AsMemory(0, length));
            Message = new ImageStreamMessage { Chunk = new ImageChunk { File = file, Offset = (ulong)offset, Frame = _frame.Frame } };
        }

        public ImageStreamMessage Message { get; }

        public void Dispose()
        {
            _frame.Dispose();
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }

    private static ImageStreamMessage Message(ImageSetBegin begin) => new() { Begin = begin };

    private static ImageStreamMessage Message(ImageSetEnd end) => new() { End = end };
}
