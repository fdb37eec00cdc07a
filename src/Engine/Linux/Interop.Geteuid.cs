using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    /// <summary>man 2 geteuid; never fails.</summary>
    [LibraryImport(Libc, EntryPoint = "geteuid")]
    internal static partial uint Geteuid();
}
