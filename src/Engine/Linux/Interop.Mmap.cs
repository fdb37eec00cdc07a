using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    internal const int PROT_READ = 0x1;
    internal const int MAP_PRIVATE = 0x02;

    /// <summary>man 2 mmap. Returns MAP_FAILED (-1) on failure.</summary>
    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    internal static partial nint Mmap(nint address, nuint length, int protection, int flags, SafeHandle fd, long offset);

    /// <summary>man 2 munmap</summary>
    [LibraryImport(Libc, EntryPoint = "munmap", SetLastError = true)]
    internal static partial int Munmap(nint address, nuint length);
}
