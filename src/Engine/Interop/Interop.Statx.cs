using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Interop;

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
internal readonly record struct FileStatus(FileKind Kind, UnixFileMode Permissions, uint Uid, long Size, long ModificationNs);

internal static partial class Linux
{
    internal const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_TYPE = 0x1;
    private const uint STATX_MODE = 0x2;
    private const uint STATX_UID = 0x8;
    private const uint STATX_MTIME = 0x40;
    private const uint STATX_SIZE = 0x200;

    // struct statx, linux/stat.h: 256 bytes on every architecture.
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    internal struct StatxBuffer
    {
        [FieldOffset(0x00)] public uint Mask;
        [FieldOffset(0x14)] public uint Uid;
        [FieldOffset(0x1c)] public ushort Mode;
        [FieldOffset(0x28)] public ulong Size;
        [FieldOffset(0x70)] public long MtimeSeconds;
        [FieldOffset(0x78)] public uint MtimeNanoseconds;
    }

    /// <summary>man 2 statx</summary>
    [LibraryImport(Libc, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int StatxNative(int dirfd, string path, int flags, uint mask, out StatxBuffer buffer);

    /// <summary>statx of an open descriptor (AT_EMPTY_PATH), O_PATH ones included.</summary>
    public static FileStatus Stat(SafeFileHandle file)
    {
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            if (StatxNative(file.DangerousGetHandle().ToInt32(), "", AT_EMPTY_PATH, STATX_TYPE | STATX_MODE | STATX_UID | STATX_MTIME | STATX_SIZE, out var buffer) != 0)
            {
                throw LastError("statx");
            }
            return new FileStatus(
                KindOf(buffer.Mode),
                (UnixFileMode)(buffer.Mode & 0xfff),
                buffer.Uid,
                (long)buffer.Size,
                // As DateTime.UnixEpoch.AddTicks(sec * 10^7 + nsec / 100), which is how the source measured it.
                (buffer.MtimeSeconds * TimeSpan.TicksPerSecond + buffer.MtimeNanoseconds / 100) * 100);
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
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
