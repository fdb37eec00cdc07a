using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    internal const int AF_NETLINK = 16;
    internal const int SOCK_DGRAM = 2;
    internal const int NETLINK_SOCK_DIAG = 4;
    internal const int CLONE_NEWNET = 0x40000000;

    /// <summary>man 2 socket</summary>
    [LibraryImport(Libc, EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    /// <summary>man 2 send</summary>
    [LibraryImport(Libc, EntryPoint = "send", SetLastError = true)]
    internal static unsafe partial nint Send(SafeHandle socket, byte* buffer, nuint length, int flags);

    /// <summary>man 2 recv</summary>
    [LibraryImport(Libc, EntryPoint = "recv", SetLastError = true)]
    internal static unsafe partial nint Receive(SafeHandle socket, byte* buffer, nuint length, int flags);

    /// <summary>man 2 setns: moves the calling thread, and only it, into the namespace.</summary>
    [LibraryImport(Libc, EntryPoint = "setns", SetLastError = true)]
    internal static partial int SetNamespace(SafeHandle namespaceFile, int type);
}
