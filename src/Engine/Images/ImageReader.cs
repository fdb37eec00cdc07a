using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using Google.Protobuf;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Images;

/// <summary>
/// Reads a CRIU protobuf image: an optional common magic, the type magic, then
/// entries of a little-endian u32 size followed by that many bytes of one
/// protobuf message (criu/protobuf.c, do_pb_read_one).
/// </summary>
public ref struct ImageReader
{
    private readonly ReadOnlySpan<byte> _image;
    private readonly string _name;
    private int _offset;

    private ImageReader(ReadOnlySpan<byte> image, string name, int offset)
    {
        _image = image;
        _name = name;
        _offset = offset;
    }

    /// <summary>Checks the header and positions the reader on the first entry.</summary>
    public static ImageReader Open(ReadOnlySpan<byte> image, uint expectedMagic, string name)
    {
        int offset = 0;
        uint magic = ReadU32(image, ref offset, name, "magic");
        if (magic is ImageMagic.Common or ImageMagic.Service)
        {
            magic = ReadU32(image, ref offset, name, "type magic");
        }
        if (magic != expectedMagic)
        {
            ThrowHelper.InvalidData(name, 0, $"magic 0x{magic:x8} where 0x{expectedMagic:x8} was expected");
        }
        return new ImageReader(image, name, offset);
    }

    public readonly bool End => _offset == _image.Length;

    /// <summary>Reads the next entry; false at the end of the image.</summary>
    public bool TryRead<T>(MessageParser<T> parser, [NotNullWhen(true)] out T? entry)
        where T : IMessage<T>
    {
        entry = default;
        if (End)
        {
            return false;
        }
        int start = _offset;
        uint size = ReadU32(_image, ref _offset, _name, "entry size");
        if (size > _image.Length - _offset)
        {
            ThrowHelper.InvalidData(_name, start, $"entry of {size} bytes runs past the end ({_image.Length - _offset} left)");
        }
        try
        {
            entry = parser.ParseFrom(_image.Slice(_offset, (int)size));
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
        _offset += (int)size;
        return true;
    }

    public List<T> ReadAll<T>(MessageParser<T> parser)
        where T : IMessage<T>
    {
        var entries = new List<T>();
        while (TryRead(parser, out var entry))
        {
            entries.Add(entry);
        }
        return entries;
    }

    private static uint ReadU32(ReadOnlySpan<byte> image, ref int offset, string name, string field)
    {
        if (image.Length - offset < sizeof(uint))
        {
            ThrowHelper.InvalidData(name, offset, $"truncated before the {field}");
        }
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(image[offset..]);
        offset += sizeof(uint);
        return value;
    }
}
