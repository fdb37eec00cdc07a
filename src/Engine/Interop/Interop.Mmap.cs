using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    private const int PROT_READ = 0x1;
    private const int MAP_PRIVATE = 0x02;

    /// <summary>man 2 mmap</summary>
    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    private static partial nint MmapNative(nint address, nuint length, int protection, int flags, int fd, long offset);

    /// <summary>man 2 munmap</summary>
    [LibraryImport(Libc, EntryPoint = "munmap", SetLastError = true)]
    private static partial int MunmapNative(nint address, nuint length);

    /// <summary>
    /// Reads one byte of <paramref name="file"/> through a fresh private,
    /// read-only mapping: that is where the kernel installs the uprobes active
    /// on the file (kernel/events/uprobes.c, uprobe_mmap), so the byte differs
    /// from the file's own where a probe is live.
    /// </summary>
    public static unsafe byte ReadThroughPrivateMapping(SafeFileHandle file, long offset)
    {
        long pageOffset = offset & ~(long)(Environment.SystemPageSize - 1);
        nuint length = (nuint)Environment.SystemPageSize;
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            nint mapping = MmapNative(0, length, PROT_READ, MAP_PRIVATE, (int)file.DangerousGetHandle(), pageOffset);
            if (mapping == -1)
            {
                throw LastError("mmap");
            }
            try
            {
                return ((byte*)mapping)[offset - pageOffset];
            }
            finally
            {
                MunmapNative(mapping, length);
            }
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }
}
