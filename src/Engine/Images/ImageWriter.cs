using System.Buffers.Binary;
using Google.Protobuf;

namespace Migrate.Engine.Images;

/// <summary>Writes a CRIU protobuf image in the framing <see cref="ImageReader"/> reads.</summary>
public static class ImageWriter
{
    public static byte[] Write(uint magic, IEnumerable<IMessage> entries)
    {
        using var stream = new MemoryStream();
        Span<byte> word = stackalloc byte[sizeof(uint)];
        if (magic != ImageMagic.Inventory)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(word, ImageMagic.Common);
            stream.Write(word);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(word, magic);
        stream.Write(word);
        foreach (var entry in entries)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(word, (uint)entry.CalculateSize());
            stream.Write(word);
            entry.WriteTo(stream);
        }
        return stream.ToArray();
    }
}
