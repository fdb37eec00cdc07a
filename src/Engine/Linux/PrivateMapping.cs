using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Linux;

/// <summary>A file's bytes as a fresh private mapping of it shows them (man 2 mmap).</summary>
internal static class PrivateMapping
{
    /// <summary>
    /// Reads one byte of <paramref name="file"/> through a fresh private,
    /// read-only mapping: that is where the kernel installs the uprobes active
    /// on the file (kernel/events/uprobes.c, uprobe_mmap), so the byte differs
    /// from the file's own where a probe is live.
    /// </summary>
    public static unsafe byte ReadByte(SafeFileHandle file, long offset)
    {
        long pageOffset = offset & ~(long)(PageSize.Bytes - 1);
        nuint length = PageSize.Bytes;
        nint mapping = Interop.Mmap(0, length, Interop.PROT_READ, Interop.MAP_PRIVATE, file, pageOffset);
        if (mapping == -1)
        {
            throw LinuxException.FromLastError("mmap", $"offset {pageOffset}");
        }
        try
        {
            return ((byte*)mapping)[offset - pageOffset];
        }
        finally
        {
            Interop.Munmap(mapping, length);
        }
    }
}
