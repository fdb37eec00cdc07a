using System.Buffers;
using System.IO.Hashing;
using Google.Protobuf;
using K4os.Compression.LZ4;
using Migrate.Protocol;

namespace Migrate.Engine.Protocol;

/// <summary>
/// Encodes blocks of bytes into <see cref="Frame"/>s and checks them on the way
/// back: LZ4 block compression when it shrinks the block, and an XxHash3 of
/// the raw bytes so that corruption anywhere on the path is caught.
/// </summary>
public static class FrameCodec
{
    /// <summary>
    /// Encodes <paramref name="raw"/> without copying it into a new buffer: the
    /// frame's data points into pooled memory, or into <paramref name="raw"/>
    /// itself when compression does not pay. Both must stay untouched until
    /// the frame is sent; then dispose the result.
    /// </summary>
    public static OutgoingFrame Encode(ReadOnlyMemory<byte> raw)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(LZ4Codec.MaximumOutputSize(raw.Length));
        int compressed = LZ4Codec.Encode(raw.Span, scratch, LZ4Level.L00_FAST);
        bool useLz4 = compressed > 0 && compressed < raw.Length;
        var frame = new Frame
        {
            RawLength = (uint)raw.Length,
            Lz4 = useLz4,
            Data = UnsafeByteOperations.UnsafeWrap(useLz4 ? scratch.AsMemory(0, compressed) : raw),
            Checksum = XxHash3.HashToUInt64(raw.Span),
        };
        if (!useLz4)
        {
            ArrayPool<byte>.Shared.Return(scratch);
            scratch = null;
        }
        return new OutgoingFrame(frame, scratch);
    }

    /// <summary>
    /// Decodes <paramref name="frame"/> into the start of <paramref name="destination"/>
    /// and returns its raw length. Every size comes from the peer, so each is
    /// checked against <paramref name="maxRawLength"/> before any work is done.
    /// </summary>
    public static int Decode(Frame? frame, Span<byte> destination, int maxRawLength)
    {
        if (frame is null)
        {
            throw new FrameException("frame is missing");
        }
        if (frame.RawLength > maxRawLength || frame.RawLength > destination.Length)
        {
            throw new FrameException($"frame of {frame.RawLength} bytes exceeds the limit of {maxRawLength} bytes", exceedsLimit: true);
        }
        int rawLength = (int)frame.RawLength;
        var data = frame.Data.Span;
        var raw = destination[..rawLength];
        if (frame.Lz4)
        {
            if (data.Length > LZ4Codec.MaximumOutputSize(rawLength))
            {
                throw new FrameException($"compressed frame of {data.Length} bytes is too large for {rawLength} raw bytes", exceedsLimit: true);
            }
            if (LZ4Codec.Decode(data, raw) != rawLength)
            {
                throw new FrameException("LZ4 data does not decode to the stated length");
            }
        }
        else
        {
            if (data.Length != rawLength)
            {
                throw new FrameException($"uncompressed frame holds {data.Length} bytes but states {rawLength}");
            }
            data.CopyTo(raw);
        }
        if (XxHash3.HashToUInt64(raw) != frame.Checksum)
        {
            throw new FrameException("checksum mismatch");
        }
        return rawLength;
    }
}

/// <summary>A frame on its way out, holding the pooled memory its data points into.</summary>
public sealed class OutgoingFrame(Frame frame, byte[]? rented) : IDisposable
{
    private byte[]? _rented = rented;

    public Frame Frame { get; } = frame;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _rented, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>A frame from the peer is corrupt, or larger than allowed.</summary>
public sealed class FrameException(string message, bool exceedsLimit = false) : Exception(message)
{
    /// <summary>The frame states more bytes than the receiver accepts.</summary>
    public bool ExceedsLimit { get; } = exceedsLimit;
}
