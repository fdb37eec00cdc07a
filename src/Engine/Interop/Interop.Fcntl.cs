using System.Runtime.InteropServices;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    private const int F_GETFD = 1;
    private const int F_SETFD = 2;
    private const int FD_CLOEXEC = 1;

    /// <summary>man 2 fcntl</summary>
    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int cmd, int arg);

    /// <summary>Lets a child inherit <paramref name="fd"/> across exec, or stops it.</summary>
    public static void SetInheritable(int fd, bool inheritable)
    {
        int flags = Fcntl(fd, F_GETFD, 0);
        if (flags < 0)
        {
            throw LastError("fcntl(F_GETFD)");
        }
        flags = inheritable ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC;
        if (Fcntl(fd, F_SETFD, flags) < 0)
        {
            throw LastError("fcntl(F_SETFD)");
        }
    }
}
