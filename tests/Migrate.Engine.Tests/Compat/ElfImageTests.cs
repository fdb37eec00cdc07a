using Migrate.Engine.Compat;

namespace Migrate.Engine.Tests.Compat;

public sealed class ElfImageTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Fact]
    public void Symbols_offsets_and_addresses_agree()
    {
        var elf = ElfImage.Read(SharedObject.Build(_directory, "lib", "int first(int x) { return x * 7; }\nint second(int x) { return x + 3; }\n"), "lib.so");

        var second = elf.Symbols.Single(symbol => symbol.Name == "second");
        ulong offset = elf.FileOffsetOf(second.Address)!.Value;

        Assert.Equal(second.Address, elf.AddressOf(offset));
        Assert.Equal("second+0x0", elf.Describe(second.Address));
        Assert.Equal("second+0x1", elf.Describe(second.Address + 1));
    }

    [Fact]
    public void A_truncated_file_is_refused_with_its_name()
    {
        var bytes = SharedObject.Build(_directory, "lib", "int f(void) { return 1; }\n");

        var e = Assert.Throws<InvalidDataException>(() => ElfImage.Read(bytes.AsSpan(0, bytes.Length / 2), "lib.so"));

        Assert.StartsWith("lib.so: at offset", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Something_that_is_not_elf_is_refused()
    {
        Assert.Throws<InvalidDataException>(() => ElfImage.Read("#!/bin/sh\necho hello, this is no ELF file at all, but long enough\n"u8, "script"));
    }

    public void Dispose() => _directory.Dispose();
}
