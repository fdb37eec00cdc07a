using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Linux;

/// <summary>
/// A shared memory object of another process (anonymous shared memory or a
/// memfd: files of the kernel's internal tmpfs), opened for reading through
/// the mapping that shows it, /proc/PID/map_files/START-END, as CRIU dumps it
/// (criu/shmem.c). Reading with pread rather than a mapping of our own keeps
/// holes holes (a read fault on one would allocate a page) and survives the
/// object shrinking underneath: a mapping past its new end would raise SIGBUS.
/// </summary>
public sealed class SharedMemoryFile : IDisposable
{
    private readonly SafeFileHandle _file;

    private SharedMemoryFile(SafeFileHandle file, long size)
    {
        _file = file;
        Size = size;
    }

    /// <summary>The object's size in bytes.</summary>
    public long Size { get; }

    /// <summary>
    /// Opens the object <paramref name="area"/> of task <paramref name="pid"/>
    /// maps, or null when that is no longer the area's inode of
    /// the kernel's tmpfs in base pages (the area changed, the task exited, or
    /// the object is hugetlbfs), or when map_files may not be opened (it needs
    /// CAP_SYS_ADMIN in the task's user namespace).
    /// </summary>
    public static SharedMemoryFile? Open(int pid, MemoryArea area)
    {
        var path = string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/map_files/{area.Start:x}-{area.End:x}");
        SafeFileHandle file;
        try
        {
            file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        Interop.CheckIo(Interop.Statx(file, "", Interop.AT_EMPTY_PATH, Interop.STATX_INO | Interop.STATX_SIZE, out var stat), "statx", path);
        if (stat.Inode != area.Inode || stat.BlockSize != PageSize.Bytes)
        {
            file.Dispose();
            return null;
        }
        return new SharedMemoryFile(file, (long)stat.Size);
    }

    /// <summary>The runs of pages that hold data, in offset order; holes read as zero and are never dumped.</summary>
    public IEnumerable<(long Offset, long Pages)> DataRuns()
    {
        long offset = 0;
        while (offset < Size)
        {
            long data = Interop.Lseek(_file, offset, Interop.SEEK_DATA);
            if (data < 0)
            {
                var error = LinuxException.FromLastError("lseek(SEEK_DATA)");
                // ENXIO: no data from offset on.
                if (error.Errno == Errno.ENXIO)
                {
                    yield break;
                }
                throw error;
            }
            long hole = Interop.CheckIo(Interop.Lseek(_file, data, Interop.SEEK_HOLE), "lseek(SEEK_HOLE)");
            // tmpfs keeps data and holes in whole pages.
            long start = PageSize.RoundDown(data);
            long end = Math.Min(PageSize.RoundUp(hole), PageSize.RoundUp(Size));
            if (end > start)
            {
                yield return (start, (end - start) >> PageSize.Shift);
            }
            offset = end;
        }
    }

    /// <summary>
    /// Reads whole pages from <paramref name="offset"/>: fewer than asked at the
    /// object's end, with the last page filled up with zeros when the object
    /// ends inside it, as the page itself is (CRIU dumps that page too).
    /// </summary>
    public int Read(long offset, Span<byte> destination)
    {
        int read = 0, got;
        while (read < destination.Length && (got = RandomAccess.Read(_file, destination[read..], offset + read)) > 0)
        {
            read += got;
        }
        int pages = (int)PageSize.RoundUp(read);
        destination[read..pages].Clear();
        return pages;
    }

    public void Dispose() => _file.Dispose();
}
