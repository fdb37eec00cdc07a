using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    internal const int PR_SET_CHILD_SUBREAPER = 36;

    /// <summary>man 2 prctl</summary>
    [LibraryImport(Libc, EntryPoint = "prctl", SetLastError = true)]
    internal static partial int Prctl(int option, ulong argument2, ulong argument3, ulong argument4, ulong argument5);
}
