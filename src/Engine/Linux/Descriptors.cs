using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

/// <summary>Operations on descriptors of any kind.</summary>
internal static class Descriptors
{
    /// <summary>Lets a child inherit <paramref name="fd"/> across exec, or stops it (man 2 fcntl, FD_CLOEXEC).</summary>
    public static void SetInheritable(SafeHandle fd, bool inheritable)
    {
        int flags = Interop.CheckIo(Interop.Fcntl(fd, Interop.F_GETFD, 0), "fcntl(F_GETFD)");
        flags = inheritable ? flags & ~Interop.FD_CLOEXEC : flags | Interop.FD_CLOEXEC;
        Interop.CheckIo(Interop.Fcntl(fd, Interop.F_SETFD, flags), "fcntl(F_SETFD)");
    }

    /// <summary>A connected pair of AF_UNIX sockets of <paramref name="type"/>, closed on exec (man 2 socketpair).</summary>
    public static unsafe (SafeSocketHandle First, SafeSocketHandle Second) SocketPair(int type)
    {
        int* fds = stackalloc int[2];
        Interop.CheckIo(Interop.SocketPair(Interop.AF_UNIX, type | Interop.SOCK_CLOEXEC, 0, fds), "socketpair");
        return (new SafeSocketHandle(fds[0], ownsHandle: true), new SafeSocketHandle(fds[1], ownsHandle: true));
    }
}
