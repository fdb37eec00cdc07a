using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    // fcntl.h (asm-generic/fcntl.h; O_NOFOLLOW is 0100000 on arm and arm64, arch/arm64/include/uapi/asm/fcntl.h).
    internal const int O_RDONLY = 0;
    internal const int O_NOCTTY = 0x100;
    internal const int O_NONBLOCK = 0x800;
    internal const int O_CLOEXEC = 0x80000;
    internal const int O_PATH = 0x200000;
    internal static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;

    private const int ENOENT = 2;
    private const int ENOTDIR = 20;

    /// <summary>man 2 open. Variadic in C; without O_CREAT the mode is never read.</summary>
    [LibraryImport(Libc, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenNative(string path, int flags, uint mode);

    /// <summary>
    /// Opens <paramref name="path"/> as a location only (O_PATH | O_NOFOLLOW):
    /// no read, no driver's open, no wait on a FIFO, and a symbolic link at the
    /// last component is the link itself (man 2 open). Null when nothing is there.
    /// </summary>
    public static SafeFileHandle? OpenLocation(string path)
    {
        int fd = OpenNative(path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd >= 0)
        {
            return new SafeFileHandle(fd, ownsHandle: true);
        }
        if (LastErrno is ENOENT or ENOTDIR)
        {
            return null;
        }
        throw LastError("open", path);
    }

    /// <summary>
    /// Opens for reading the very file an O_PATH descriptor names, through its
    /// /proc/self/fd link (man 5 proc): no second lookup of the path, so nothing
    /// swapped in at the path since is opened instead. O_NONBLOCK and O_NOCTTY,
    /// should it ever be something other than the regular file it was checked to be.
    /// </summary>
    public static SafeFileHandle ReopenForReading(SafeFileHandle location)
    {
        bool added = false;
        location.DangerousAddRef(ref added);
        try
        {
            var link = "/proc/self/fd/" + location.DangerousGetHandle().ToInt32().ToString(CultureInfo.InvariantCulture);
            int fd = OpenNative(link, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
            return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : throw LastError("open", link);
        }
        finally
        {
            if (added)
            {
                location.DangerousRelease();
            }
        }
    }
}
