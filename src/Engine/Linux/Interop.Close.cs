using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    /// <summary>man 2 close. Only <see cref="System.Runtime.InteropServices.SafeHandle.ReleaseHandle"/>s call it.</summary>
    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
