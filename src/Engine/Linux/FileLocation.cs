using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Linux;

/// <summary>What a file is (the S_IFMT bits of its mode, man 7 inode).</summary>
internal enum FileKind
{
    Regular,
    Directory,
    SymbolicLink,
    Fifo,
    CharacterDevice,
    BlockDevice,
    Socket,
    Unknown,
}

/// <summary>What statx says of an open file.</summary>
/// <param name="ModificationNs">The modification time in nanoseconds since the epoch, to the 100 ns that .NET's file times keep.</param>
/// <param name="Identity">Its file system's device and its inode, as /proc/locks names them.</param>
/// <param name="Links">Its hard links: 0 once it is deleted.</param>
/// <param name="AllocatedBytes">What it takes on disk (st_blocks × 512): less than its size when sparse.</param>
internal readonly record struct FileStatus(
    FileKind Kind, UnixFileMode Permissions, uint Uid, long Size, long ModificationNs, FileIdentity Identity, uint Links, long AllocatedBytes);

/// <summary>
/// Files looked at without being opened: a path held as an O_PATH descriptor,
/// examined by statx, and reopened for reading only once it is known to be
/// what it should be. For paths a peer names.
/// </summary>
internal static class FileLocation
{
    /// <summary>
    /// Opens <paramref name="path"/> as a location only (O_PATH | O_NOFOLLOW):
    /// no read, no driver's open, no wait on a FIFO, and a symbolic link at the
    /// last component is the link itself (man 2 open). Null when nothing is there.
    /// </summary>
    public static SafeFileHandle? Open(string path)
    {
        int fd = Interop.Open(path, Interop.O_PATH | Interop.O_NOFOLLOW | Interop.O_CLOEXEC, 0);
        if (fd >= 0)
        {
            return new SafeFileHandle(fd, ownsHandle: true);
        }
        var error = LinuxException.FromLastError("open", path);
        return error.Errno is Errno.ENOENT or Errno.ENOTDIR ? null : throw error;
    }

    /// <summary>
    /// statx of the file a /proc magic link names (/proc/PID/fd/N,
    /// /proc/PID/map_files/START-END), deleted or not, opened as a location
    /// only; null when the link has gone or may not be followed.
    /// </summary>
    public static FileStatus? StatThrough(string magicLink)
    {
        int fd = Interop.Open(magicLink, Interop.O_PATH | Interop.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var error = LinuxException.FromLastError("open", magicLink);
            return error.Errno is Errno.ENOENT or Errno.EACCES or Errno.EPERM ? null : throw error;
        }
        using var location = new SafeFileHandle(fd, ownsHandle: true);
        return Stat(location);
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
            int fd = Interop.CheckIo(Interop.Open(link, Interop.O_RDONLY | Interop.O_NONBLOCK | Interop.O_NOCTTY | Interop.O_CLOEXEC, 0), "open", link);
            return new SafeFileHandle(fd, ownsHandle: true);
        }
        finally
        {
            if (added)
            {
                location.DangerousRelease();
            }
        }
    }

    /// <summary>statx of an open descriptor (AT_EMPTY_PATH), O_PATH ones included.</summary>
    public static FileStatus Stat(SafeFileHandle file)
    {
        const uint Wanted = Interop.STATX_TYPE | Interop.STATX_MODE | Interop.STATX_NLINK | Interop.STATX_UID | Interop.STATX_MTIME |
            Interop.STATX_SIZE | Interop.STATX_BLOCKS | Interop.STATX_INO;
        Interop.CheckIo(Interop.Statx(file, "", Interop.AT_EMPTY_PATH, Wanted, out var buffer), "statx");
        return new FileStatus(
            KindOf(buffer.Mode),
            (UnixFileMode)(buffer.Mode & 0xfff),
            buffer.Uid,
            (long)buffer.Size,
            // As DateTime.UnixEpoch.AddTicks(sec * 10^7 + nsec / 100), which is how the source measured it.
            (buffer.MtimeSeconds * TimeSpan.TicksPerSecond + buffer.MtimeNanoseconds / 100) * 100,
            new FileIdentity(new DeviceNumber(buffer.DeviceMajor, buffer.DeviceMinor), buffer.Inode),
            buffer.Links,
            (long)buffer.Blocks * 512);
    }

    // S_IFMT and its values, man 7 inode.
    private static FileKind KindOf(ushort mode) => (mode & 0xf000) switch
    {
        0x8000 => FileKind.Regular,
        0x4000 => FileKind.Directory,
        0xa000 => FileKind.SymbolicLink,
        0x1000 => FileKind.Fifo,
        0x2000 => FileKind.CharacterDevice,
        0x6000 => FileKind.BlockDevice,
        0xc000 => FileKind.Socket,
        _ => FileKind.Unknown,
    };
}
