using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    internal const int AF_UNIX = 1;
    internal const int SOCK_SEQPACKET = 5;
    internal const int SOCK_CLOEXEC = 0x80000;

    /// <summary>man 2 socketpair</summary>
    [LibraryImport(Libc, EntryPoint = "socketpair", SetLastError = true)]
    internal static unsafe partial int SocketPair(int domain, int type, int protocol, int* descriptors);
}
