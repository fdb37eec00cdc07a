using System.Buffers;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// The files a process tree uses, which must be on the target too: every
/// file it maps or holds open, its working directory and its executable.
/// Executables and libraries (files mapped executable) carry a content hash.
/// </summary>
public static class ProcessFiles
{
    public const string CheckName = "files";

    // fcntl.h: the access mode bits of the open flags.
    private const int AccessModeMask = 3;
    private const int ReadOnly = 0;

    public static IReadOnlyList<FileFact> Collect(IEnumerable<int> pids)
    {
        var files = new Dictionary<string, FileFact>(StringComparer.Ordinal);
        foreach (var pid in pids)
        {
            foreach (var area in ProcFs.Maps.Read(pid).Where(area => IsPlainPath(area.Path)))
            {
                Add(files, area.Path, writable: false, executable: area.Executable, locked: null);
            }
            foreach (var (path, writable, locked) in OpenFiles(pid))
            {
                Add(files, path, writable, executable: false, locked);
            }
            if (ProcFs.WorkingDirectory(pid) is { } cwd && IsPlainPath(cwd))
            {
                Add(files, cwd, writable: false, executable: false, locked: null);
            }
        }
        return files.Values.OrderBy(file => file.Path, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// On the target: every file is there, the same; the first that is not is
    /// named. The answer is pass or fail with the source's own path: nothing of
    /// what the target's file is like (its size, its time) goes back. Each path
    /// is opened as a location only (O_PATH), without following a link at it,
    /// and compared by statx; only a regular file is ever opened for reading, to
    /// hash it. At most <paramref name="maxHashBytes"/> are hashed.
    /// </summary>
    public static CheckResult Verify(IEnumerable<FileFact> facts, long maxHashBytes, CancellationToken cancellationToken)
    {
        int count = 0;
        long hashAllowance = maxHashBytes;
        foreach (var fact in facts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            count++;
            if (Mismatch(fact, ref hashAllowance, cancellationToken) is { } problem)
            {
                return Checks.Fail(CheckName, problem, hashAllowance < 0
                    ? $"the target hashes at most {maxHashBytes >> 20} MiB of executables and libraries for one check"
                    : "make the file the same on the target (same content, size and modification time), or share the file system");
            }
        }
        return Checks.Pass(CheckName, $"{Checks.Count(count, "path")} the process uses, all the same on the target");
    }

    private static string? Mismatch(FileFact fact, ref long hashAllowance, CancellationToken cancellationToken)
    {
        if (!IsPlainPath(fact.Path))
        {
            return $"refused path '{Printable(fact.Path)}'";
        }
        using var location = FileLocation.Open(fact.Path);
        if (location is null)
        {
            return $"{fact.Path} is missing on the target";
        }
        var status = FileLocation.Stat(location);
        if (fact.LinkTarget is { } linkTarget)
        {
            // Only read, never followed: the process holds the link itself.
            return status.Kind != FileKind.SymbolicLink ? $"{fact.Path} is not a symbolic link on the target"
                : new FileInfo(fact.Path).LinkTarget == linkTarget ? null
                : $"{fact.Path} is a symbolic link to elsewhere on the target";
        }
        if (status.Kind == FileKind.SymbolicLink)
        {
            // The kernel names the files a process maps or opens resolved (/proc/PID/maps, fd links),
            // unless it holds the link itself, and then the source says so.
            return $"{fact.Path} is a symbolic link on the target";
        }
        if (fact.Directory)
        {
            return status.Kind == FileKind.Directory ? null : $"{fact.Path} is not a directory on the target";
        }
        if (fact.Writable)
        {
            // A file open for writing changes while the process runs; CRIU checks its size at restore.
            return null;
        }
        if ((ulong)status.Size != fact.Size)
        {
            return $"{fact.Path} has another size on the target";
        }
        if (status.ModificationNs != fact.MtimeNs)
        {
            return $"{fact.Path} has another modification time on the target";
        }
        if (fact.ContentHash.IsEmpty)
        {
            return null;
        }
        if (status.Kind != FileKind.Regular)
        {
            // Only a regular file is ever read: a FIFO would block, a device node's driver would run.
            return $"{fact.Path} is not a regular file on the target";
        }
        hashAllowance -= status.Size;
        if (hashAllowance < 0)
        {
            return $"{fact.Path} is past what the target hashes for one check";
        }
        using var file = FileLocation.ReopenForReading(location);
        return HashOf(file, status.Size, cancellationToken) is { } hash && hash.AsSpan().SequenceEqual(fact.ContentHash.Span)
            ? null
            : $"{fact.Path} has other content on the target";
    }

    /// <summary>XxHash128 of the file, or null if it holds more than <paramref name="size"/> bytes now.</summary>
    private static byte[]? HashOf(SafeFileHandle file, long size, CancellationToken cancellationToken)
    {
        const int ChunkBytes = 1 << 20;
        var hash = new XxHash128();
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            long offset = 0;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int read = RandomAccess.Read(file, buffer.AsSpan(0, ChunkBytes), offset);
                if (read == 0)
                {
                    return hash.GetCurrentHash();
                }
                offset += read;
                if (offset > size)
                {
                    return null;
                }
                hash.Append(buffer.AsSpan(0, read));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void Add(Dictionary<string, FileFact> files, string path, bool writable, bool executable, FileIdentity? locked)
    {
        if (files.TryGetValue(path, out var known))
        {
            files[path] = known with
            {
                Writable = known.Writable || writable,
                Locked = known.Locked ?? locked,
                ContentHash = executable && known.ContentHash.IsEmpty && !known.Directory ? Hash(path) : known.ContentHash,
            };
            return;
        }
        if (new FileInfo(path).LinkTarget is { } linkTarget)
        {
            // A path the kernel names resolved is never a link, so the process holds this link itself (O_PATH | O_NOFOLLOW).
            files[path] = new FileFact(path, 0, 0, ReadOnlyMemory<byte>.Empty, writable, Directory: false, linkTarget, locked);
            return;
        }
        FileSystemInfo info = Directory.Exists(path) ? new DirectoryInfo(path) : new FileInfo(path);
        if (!info.Exists)
        {
            return; // gone since the process opened it; CRIU keeps such files in the images
        }
        files[path] = info is FileInfo file
            ? new FileFact(path, (ulong)file.Length, ModificationNs(file), executable ? Hash(path) : ReadOnlyMemory<byte>.Empty, writable, Directory: false, Locked: locked)
            : new FileFact(path, 0, 0, ReadOnlyMemory<byte>.Empty, writable, Directory: true, Locked: locked);
    }

    private static IEnumerable<(string Path, bool Writable, FileIdentity? Locked)> OpenFiles(int pid) =>
        ProcFs.OpenFiles(pid)
            .Where(file => IsPlainPath(file.Target))
            .Select(file => ProcFs.Descriptor(pid, file.Fd) is { } info
                ? (file.Target, (info.Flags & AccessModeMask) != ReadOnly, info.Locked)
                : (file.Target, false, null));

    /// <summary>
    /// A path of the file system, not a pipe, socket or anonymous inode, not a
    /// device or kernel file (CRIU restores those in its own ways), and not a
    /// file deleted while open (CRIU carries its content in the images).
    /// </summary>
    private static bool IsPlainPath(string path) =>
        path.StartsWith('/') && !path.Contains('\0', StringComparison.Ordinal) && !path.EndsWith(" (deleted)", StringComparison.Ordinal) &&
        !path.StartsWith("/dev/", StringComparison.Ordinal) && !path.StartsWith("/proc/", StringComparison.Ordinal) &&
        !path.StartsWith("/sys/", StringComparison.Ordinal) && !path.StartsWith("/memfd:", StringComparison.Ordinal);

    private static long ModificationNs(FileInfo file) => (file.LastWriteTimeUtc - DateTime.UnixEpoch).Ticks * 100;

    private static string Printable(string path) =>
        new(path.Take(256).Select(c => char.IsControl(c) ? '?' : c).ToArray());

    private static byte[] Hash(string path)
    {
        var hash = new XxHash128();
        using var stream = File.OpenRead(path);
        hash.Append(stream);
        return hash.GetCurrentHash();
    }
}
