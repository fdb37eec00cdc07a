using System.Runtime.InteropServices;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    public const int AF_UNIX = 1;
    public const int SOCK_SEQPACKET = 5;
    public const int SOCK_CLOEXEC = 0x80000;

    /// <summary>man 2 socketpair</summary>
    [LibraryImport(Libc, EntryPoint = "socketpair", SetLastError = true)]
    private static unsafe partial int SocketPairNative(int domain, int type, int protocol, int* sv);

    public static unsafe (int First, int Second) SocketPair(int domain, int type)
    {
        int* sv = stackalloc int[2];
        if (SocketPairNative(domain, type, 0, sv) != 0)
        {
            throw LastError("socketpair");
        }
        return (sv[0], sv[1]);
    }
}
