using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    internal const int WNOHANG = 0x1;

    /// <summary>Waits for every child, clone or not, and for tracees (man 2 wait: __WALL).</summary>
#pragma warning disable IDE1006 // named as the C macro, which a test compares it with
    internal const int __WALL = 0x40000000;
#pragma warning restore IDE1006

    /// <summary>man 2 waitpid</summary>
    [LibraryImport(Libc, EntryPoint = "waitpid", SetLastError = true)]
    internal static unsafe partial int WaitPid(int pid, int* status, int options);
}
