using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    // unistd.h (lseek(2)): the data and holes of a sparse file.
    internal const int SEEK_DATA = 3;
    internal const int SEEK_HOLE = 4;

    /// <summary>man 2 lseek</summary>
    [LibraryImport(Libc, EntryPoint = "lseek", SetLastError = true)]
    internal static partial long Lseek(SafeHandle fd, long offset, int whence);
}
