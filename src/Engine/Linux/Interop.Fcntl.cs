using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    internal const int F_GETFD = 1;
    internal const int F_SETFD = 2;
    internal const int FD_CLOEXEC = 1;

    /// <summary>man 2 fcntl</summary>
    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(SafeHandle fd, int command, int argument);
}
