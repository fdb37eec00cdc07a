using System.Buffers;
using Microsoft.Win32.SafeHandles;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.Protocol;

namespace Migrate.Engine.Protocol;

/// <summary>What one image set may hold; everything past it is refused. Its bytes are charged to <paramref name="Allowance"/> as they arrive.</summary>
public sealed record ImageSetLimits(int MaxChunkBytes, int MaxFiles, StorageAllowance Allowance);

/// <summary>Why the target refused an image stream.</summary>
public enum TransferRejection
{
    /// <summary>Out of order, unknown message, bad name: the peer does not follow the protocol.</summary>
    Malformed,

    /// <summary>A checksum or decompression failed.</summary>
    Corrupt,

    /// <summary>A chunk, file count or total exceeds the limits.</summary>
    TooLarge,

    /// <summary>The stream ended early or the manifest does not match what arrived.</summary>
    Incomplete,

    /// <summary>The target could not store the data (disk full, I/O error).</summary>
    StorageFailed,
}

public sealed class TransferRejectedException(TransferRejection reason, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public TransferRejection Reason { get; } = reason;
}

/// <summary>
/// Receives one image set into a new directory, treating every byte as
/// hostile: names, offsets, sizes and counts are checked before they are used,
/// and the set only counts once its manifest matches what arrived. On any
/// failure the directory is removed and its bytes are given back.
/// </summary>
public static class ImageSetReceiver
{
    /// <param name="messages">The stream after its <see cref="ImageSetBegin"/>.</param>
    /// <param name="directory">Must not exist yet; created here.</param>
    public static async Task<TransferStats> ReceiveAsync(
        IAsyncEnumerable<ImageStreamMessage> messages,
        string directory,
        ImageSetLimits limits,
        CancellationToken cancellationToken)
    {
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(directory)!);
        if (Directory.Exists(directory))
        {
            throw new TransferRejectedException(TransferRejection.Malformed, $"image set {Path.GetFileName(directory)} was already sent");
        }
        PrivateFiles.CreateDirectory(directory);
        var state = new ReceiveState(directory, limits);
        try
        {
            await foreach (var message in messages.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                if (state.Finished)
                {
                    throw Malformed("a message followed the image set's manifest");
                }
                switch (message.KindCase)
                {
                    case ImageStreamMessage.KindOneofCase.Chunk:
                        await state.WriteChunkAsync(message.Chunk, message.CalculateSize(), cancellationToken).ConfigureAwait(false);
                        break;
                    case ImageStreamMessage.KindOneofCase.End:
                        state.Finish(message.End);
                        break;
                    default:
                        throw Malformed($"unexpected {message.KindCase} message inside an image set");
                }
            }
            if (!state.Finished)
            {
                throw new TransferRejectedException(TransferRejection.Incomplete, "the image stream ended before its manifest");
            }
            return state.Stats;
        }
        catch (Exception e)
        {
            state.Dispose();
            Directory.Delete(directory, recursive: true);
            limits.Allowance.Refund(state.Stats.BytesRaw);
            if (e is StorageLimitException full)
            {
                throw new TransferRejectedException(TransferRejection.TooLarge, $"the image set was refused: {full.Message}", full);
            }
            if (e is IOException io && e is not FileNotFoundException)
            {
                throw new TransferRejectedException(TransferRejection.StorageFailed, $"cannot store the image set: {io.Message}", io);
            }
            throw;
        }
        finally
        {
            state.Dispose();
        }
    }

    private static TransferRejectedException Malformed(string message) => new(TransferRejection.Malformed, message);

    private sealed class ReceiveState(string directory, ImageSetLimits limits) : IDisposable
    {
        private readonly Dictionary<string, long> _received = new(StringComparer.Ordinal);
        private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(limits.MaxChunkBytes);
        private SafeFileHandle? _current;
        private string? _currentName;
        private long _total;
        private long _onWire;
        private bool _disposed;

        public bool Finished { get; private set; }

        public TransferStats Stats => new(_received.Count, _total, _onWire);

        public async Task WriteChunkAsync(ImageChunk chunk, int wireSize, CancellationToken cancellationToken)
        {
            if (chunk.File != _currentName)
            {
                OpenNext(chunk.File);
            }
            long size = _received[chunk.File];
            if (chunk.Offset != (ulong)size)
            {
                throw Malformed($"{chunk.File}: chunk at offset {chunk.Offset} where {size} was expected");
            }
            int length;
            try
            {
                length = FrameCodec.Decode(chunk.Frame, _buffer, limits.MaxChunkBytes);
            }
            catch (FrameException e)
            {
                var reason = e.ExceedsLimit ? TransferRejection.TooLarge : TransferRejection.Corrupt;
                throw new TransferRejectedException(reason, $"{chunk.File} at offset {chunk.Offset}: {e.Message}", e);
            }
            limits.Allowance.Charge(length);
            _total += length;
            await RandomAccess.WriteAsync(_current!, _buffer.AsMemory(0, length), size, cancellationToken).ConfigureAwait(false);
            _received[chunk.File] = size + length;
            _onWire += wireSize;
        }

        public void Finish(ImageSetEnd end)
        {
            CloseCurrent();
            if (end.Files.Count > limits.MaxFiles)
            {
                throw new TransferRejectedException(TransferRejection.TooLarge, $"the manifest lists {end.Files.Count} files; the limit is {limits.MaxFiles}");
            }
            var listed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var file in end.Files)
            {
                if (!listed.Add(file.Name))
                {
                    throw Malformed($"the manifest lists {file.Name} twice");
                }
                if (_received.TryGetValue(file.Name, out long size))
                {
                    if ((ulong)size != file.Size)
                    {
                        throw new TransferRejectedException(TransferRejection.Incomplete, $"{file.Name}: {size} bytes arrived, the manifest says {file.Size}");
                    }
                }
                else if (file.Size == 0)
                {
                    CreateEmpty(file.Name);
                }
                else
                {
                    throw new TransferRejectedException(TransferRejection.Incomplete, $"{file.Name} is in the manifest but never arrived");
                }
            }
            var unlisted = _received.Keys.FirstOrDefault(name => !listed.Contains(name));
            if (unlisted is not null)
            {
                throw Malformed($"{unlisted} arrived but is not in the manifest");
            }
            if (end.TotalBytes != (ulong)_total)
            {
                throw new TransferRejectedException(TransferRejection.Incomplete, $"{_total} bytes arrived, the manifest says {end.TotalBytes}");
            }
            Finished = true;
        }

        private void OpenNext(string name)
        {
            if (!ImageNames.IsValidFileName(name))
            {
                throw Malformed($"refused image file name '{Printable(name)}'");
            }
            if (_received.ContainsKey(name))
            {
                throw Malformed($"{name} was sent in two separate runs");
            }
            if (_received.Count >= limits.MaxFiles)
            {
                throw new TransferRejectedException(TransferRejection.TooLarge, $"more than {limits.MaxFiles} files in one image set");
            }
            CloseCurrent();
            _current = PrivateFiles.CreateNew(Path.Combine(directory, name));
            _currentName = name;
            _received[name] = 0;
        }

        private void CreateEmpty(string name)
        {
            OpenNext(name);
            CloseCurrent();
        }

        private void CloseCurrent()
        {
            _current?.Dispose();
            _current = null;
            _currentName = null;
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            CloseCurrent();
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        private static string Printable(string name) =>
            new(name.Take(64).Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }
}
