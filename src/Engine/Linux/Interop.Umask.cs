using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    /// <summary>man 2 umask; never fails, returns the previous mask.</summary>
    [LibraryImport(Libc, EntryPoint = "umask")]
    internal static partial uint Umask(uint mask);
}
