using System.Runtime.InteropServices;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    /// <summary>man 2 umask; never fails, returns the previous mask.</summary>
    [LibraryImport(Libc, EntryPoint = "umask")]
    private static partial uint UmaskNative(uint mask);

    /// <summary>Sets this process's file mode creation mask, which the children it starts inherit (man 2 umask).</summary>
    public static UnixFileMode SetUmask(UnixFileMode mask) => (UnixFileMode)UmaskNative((uint)mask);
}
