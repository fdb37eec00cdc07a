using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    /// <summary>man 2 ioctl</summary>
    [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
    internal static unsafe partial int Ioctl(SafeHandle fd, ulong request, void* argument);
}
