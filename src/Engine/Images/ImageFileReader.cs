using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using Google.Protobuf;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Images;

/// <summary>
/// Reads a CRIU protobuf image from its file one entry at a time, in the
/// framing <see cref="ImageReader"/> reads from memory: an image of any size
/// costs one entry's memory. Every size comes from the file and is checked
/// against the file's length and <c>maxEntryBytes</c> before anything is read.
/// </summary>
public sealed class ImageFileReader : IDisposable
{
    private readonly FileStream _file;
    private readonly string _name;
    private readonly int _maxEntryBytes;
    private readonly long _length;
    private byte[] _entry = new byte[256];
    private long _offset;

    private ImageFileReader(FileStream file, string name, int maxEntryBytes)
    {
        _file = file;
        _name = name;
        _maxEntryBytes = maxEntryBytes;
        _length = file.Length;
    }

    /// <summary>Opens <paramref name="path"/>, checks its header and positions the reader on the first entry.</summary>
    public static ImageFileReader Open(string path, uint expectedMagic, int maxEntryBytes)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 64 * 1024);
        var reader = new ImageFileReader(file, path, maxEntryBytes);
        try
        {
            uint magic = reader.ReadU32("magic");
            if (magic is ImageMagic.Common or ImageMagic.Service)
            {
                magic = reader.ReadU32("type magic");
            }
            if (magic != expectedMagic)
            {
                ThrowHelper.InvalidData(path, 0, $"magic 0x{magic:x8} where 0x{expectedMagic:x8} was expected");
            }
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>Where the entry last read starts in the file.</summary>
    public long EntryOffset { get; private set; }

    /// <summary>Reads the next entry; false at the end of the image.</summary>
    public bool TryRead<T>(MessageParser<T> parser, [NotNullWhen(true)] out T? entry)
        where T : IMessage<T>
    {
        entry = default;
        long start = _offset;
        if (start == _length)
        {
            return false;
        }
        EntryOffset = start;
        uint size = ReadU32("entry size");
        if (size > _maxEntryBytes)
        {
            ThrowHelper.InvalidData(_name, start, $"entry of {size} bytes exceeds the limit of {_maxEntryBytes} for this image");
        }
        if (size > _length - _offset)
        {
            ThrowHelper.InvalidData(_name, start, $"entry of {size} bytes runs past the end ({_length - _offset} left)");
        }
        if (_entry.Length < size)
        {
            _entry = new byte[Math.Max(size, Math.Min(_entry.Length * 2L, _maxEntryBytes))];
        }
        var bytes = _entry.AsSpan(0, (int)size);
        ReadExactly(bytes);
        try
        {
            entry = parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            ThrowHelper.InvalidData(_name, start, $"entry does not parse as {typeof(T).Name}: {e.Message}");
        }
        // Google.Protobuf does not enforce proto2's required fields; CRIU's reader (protobuf-c) does.
        if (!entry.IsInitialized())
        {
            ThrowHelper.InvalidData(_name, start, $"{typeof(T).Name} lacks a required field");
        }
        return true;
    }

    private uint ReadU32(string field)
    {
        Span<byte> word = stackalloc byte[sizeof(uint)];
        if (_length - _offset < sizeof(uint))
        {
            ThrowHelper.InvalidData(_name, _offset, $"truncated before the {field}");
        }
        ReadExactly(word);
        return BinaryPrimitives.ReadUInt32LittleEndian(word);
    }

    private void ReadExactly(Span<byte> destination)
    {
        try
        {
            _file.ReadExactly(destination);
        }
        catch (EndOfStreamException)
        {
            ThrowHelper.InvalidData(_name, _offset, "the file shrank while it was read");
        }
        _offset += destination.Length;
    }

    public void Dispose() => _file.Dispose();
}
