using System.Buffers.Binary;
using System.Text;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>A function or object an ELF file names (Elf64_Sym).</summary>
public readonly record struct ElfSymbol(string Name, ulong Address, ulong Size);

/// <summary>A loadable segment: file bytes at <see cref="FileOffset"/> are mapped at <see cref="Address"/> (Elf64_Phdr, PT_LOAD).</summary>
public readonly record struct ElfSegment(ulong FileOffset, ulong Address, ulong FileSize);

/// <summary>
/// The parts of a 64-bit little-endian ELF file the verifiers use: loadable
/// segments and the symbol tables (.symtab and .dynsym), read through the
/// section headers (elf(5)). Every offset and size is checked against the
/// file's length before use.
/// </summary>
public sealed class ElfImage
{
    private const uint SHT_SYMTAB = 2;
    private const uint SHT_DYNSYM = 11;
    private const uint PT_LOAD = 1;
    private const int SymbolSize = 24;

    private ElfImage(IReadOnlyList<ElfSegment> segments, IReadOnlyList<ElfSymbol> symbols)
    {
        Segments = segments;
        Symbols = symbols;
    }

    public IReadOnlyList<ElfSegment> Segments { get; }

    /// <summary>Named functions and objects of both tables, without duplicates, by address.</summary>
    public IReadOnlyList<ElfSymbol> Symbols { get; }

    public static ElfImage Read(ReadOnlySpan<byte> file, string name)
    {
        if (file.Length < 64 || !file[..4].SequenceEqual("\u007fELF"u8))
        {
            ThrowHelper.InvalidData(name, 0, "not an ELF file");
        }
        if (file[4] != 2 || file[5] != 1)
        {
            ThrowHelper.InvalidData(name, 4, "not a 64-bit little-endian ELF file");
        }
        ulong programHeaders = U64(file, 0x20, name);
        ulong sectionHeaders = U64(file, 0x28, name);
        int programHeaderSize = U16(file, 0x36, name), programHeaderCount = U16(file, 0x38, name);
        int sectionHeaderSize = U16(file, 0x3a, name), sectionHeaderCount = U16(file, 0x3c, name);

        var segments = new List<ElfSegment>();
        for (int i = 0; i < programHeaderCount; i++)
        {
            var header = Slice(file, programHeaders + (ulong)(i * programHeaderSize), 56, name, "program header");
            if (BinaryPrimitives.ReadUInt32LittleEndian(header) == PT_LOAD)
            {
                segments.Add(new ElfSegment(
                    BinaryPrimitives.ReadUInt64LittleEndian(header[8..]),
                    BinaryPrimitives.ReadUInt64LittleEndian(header[16..]),
                    BinaryPrimitives.ReadUInt64LittleEndian(header[32..])));
            }
        }

        var symbols = new Dictionary<(string, ulong), ElfSymbol>();
        for (int i = 0; i < sectionHeaderCount; i++)
        {
            var header = Slice(file, sectionHeaders + (ulong)(i * sectionHeaderSize), 64, name, "section header");
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
            if (type is not (SHT_SYMTAB or SHT_DYNSYM))
            {
                continue;
            }
            var table = Slice(file, BinaryPrimitives.ReadUInt64LittleEndian(header[24..]), BinaryPrimitives.ReadUInt64LittleEndian(header[32..]), name, "symbol table");
            uint link = BinaryPrimitives.ReadUInt32LittleEndian(header[40..]);
            var stringsHeader = Slice(file, sectionHeaders + (ulong)link * (ulong)sectionHeaderSize, 64, name, "section header");
            var strings = Slice(file, BinaryPrimitives.ReadUInt64LittleEndian(stringsHeader[24..]), BinaryPrimitives.ReadUInt64LittleEndian(stringsHeader[32..]), name, "string table");
            for (int offset = 0; offset + SymbolSize <= table.Length; offset += SymbolSize)
            {
                var entry = table.Slice(offset, SymbolSize);
                ushort section = BinaryPrimitives.ReadUInt16LittleEndian(entry[6..]);
                ulong address = BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]);
                if (section == 0 || address == 0)
                {
                    continue; // undefined: defined in another object
                }
                var symbolName = CString(strings, BinaryPrimitives.ReadUInt32LittleEndian(entry), name);
                if (symbolName.Length > 0)
                {
                    symbols.TryAdd((symbolName, address), new ElfSymbol(symbolName, address, BinaryPrimitives.ReadUInt64LittleEndian(entry[16..])));
                }
            }
        }
        return new ElfImage(segments, symbols.Values.OrderBy(symbol => symbol.Address).ToList());
    }

    /// <summary>The address a file offset is loaded at, or null when no segment maps it.</summary>
    public ulong? AddressOf(ulong fileOffset) =>
        Segments.Where(s => fileOffset >= s.FileOffset && fileOffset < s.FileOffset + s.FileSize)
            .Select(s => (ulong?)(s.Address + (fileOffset - s.FileOffset)))
            .FirstOrDefault();

    /// <summary>The file offset loaded at <paramref name="address"/>, or null when no segment loads it.</summary>
    public ulong? FileOffsetOf(ulong address) =>
        Segments.Where(s => address >= s.Address && address < s.Address + s.FileSize)
            .Select(s => (ulong?)(s.FileOffset + (address - s.Address)))
            .FirstOrDefault();

    /// <summary>"symbol+0xoffset" for the symbol that covers <paramref name="address"/>, or null.</summary>
    public string? Describe(ulong address)
    {
        var symbol = Symbols.LastOrDefault(s => s.Address <= address && (address < s.Address + Math.Max(s.Size, 1)));
        return symbol.Name is null ? null : $"{symbol.Name}+0x{address - symbol.Address:x}";
    }

    private static ReadOnlySpan<byte> Slice(ReadOnlySpan<byte> file, ulong offset, ulong length, string name, string what)
    {
        if (offset > (ulong)file.Length || length > (ulong)file.Length - offset)
        {
            ThrowHelper.InvalidData(name, (long)Math.Min(offset, long.MaxValue), $"{what} runs past the end of the file");
        }
        return file.Slice((int)offset, (int)length);
    }

    private static ulong U64(ReadOnlySpan<byte> file, int offset, string name) =>
        BinaryPrimitives.ReadUInt64LittleEndian(Slice(file, (ulong)offset, 8, name, "header"));

    private static ushort U16(ReadOnlySpan<byte> file, int offset, string name) =>
        BinaryPrimitives.ReadUInt16LittleEndian(Slice(file, (ulong)offset, 2, name, "header"));

    private static string CString(ReadOnlySpan<byte> strings, uint offset, string name)
    {
        if (offset >= strings.Length)
        {
            ThrowHelper.InvalidData(name, offset, "symbol name outside its string table");
        }
        var rest = strings[(int)offset..];
        int end = rest.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? rest : rest[..end]);
    }
}
