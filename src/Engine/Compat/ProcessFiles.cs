using System.Globalization;
using System.IO.Hashing;
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
                Add(files, area.Path, writable: false, executable: area.Executable);
            }
            foreach (var (path, writable) in OpenFiles(pid))
            {
                Add(files, path, writable, executable: false);
            }
            if (ProcFs.WorkingDirectory(pid) is { } cwd && IsPlainPath(cwd))
            {
                Add(files, cwd, writable: false, executable: false);
            }
        }
        return files.Values.OrderBy(file => file.Path, StringComparer.Ordinal).ToList();
    }

    /// <summary>On the target: every file is there, the same; the first that is not is named.</summary>
    public static CheckResult Verify(IEnumerable<FileFact> facts)
    {
        int count = 0;
        foreach (var fact in facts)
        {
            count++;
            if (Mismatch(fact) is { } problem)
            {
                return Checks.Fail(CheckName, problem,
                    "make the file the same on the target (same content, size and modification time), or share the file system");
            }
        }
        return Checks.Pass(CheckName, $"{Checks.Count(count, "path")} the process uses, all the same on the target");
    }

    private static string? Mismatch(FileFact fact)
    {
        if (!IsPlainPath(fact.Path))
        {
            return $"refused path '{fact.Path}'";
        }
        FileSystemInfo info = fact.Directory ? new DirectoryInfo(fact.Path) : new FileInfo(fact.Path);
        if (!info.Exists)
        {
            return $"{fact.Path} is missing on the target";
        }
        if (fact.Directory || fact.Writable)
        {
            // A file open for writing changes while the process runs; CRIU checks its size at restore.
            return null;
        }
        var file = (FileInfo)info;
        if ((ulong)file.Length != fact.Size)
        {
            return $"{fact.Path} is {file.Length} bytes on the target, {fact.Size} on the source";
        }
        if (ModificationNs(file) != fact.MtimeNs)
        {
            return $"{fact.Path} was modified at {Describe(ModificationNs(file))} on the target, {Describe(fact.MtimeNs)} on the source";
        }
        if (!fact.ContentHash.IsEmpty && !fact.ContentHash.Span.SequenceEqual(Hash(fact.Path)))
        {
            return $"{fact.Path} has other content on the target";
        }
        return null;
    }

    private static void Add(Dictionary<string, FileFact> files, string path, bool writable, bool executable)
    {
        if (files.TryGetValue(path, out var known))
        {
            files[path] = known with
            {
                Writable = known.Writable || writable,
                ContentHash = executable && known.ContentHash.IsEmpty && !known.Directory ? Hash(path) : known.ContentHash,
            };
            return;
        }
        FileSystemInfo info = Directory.Exists(path) ? new DirectoryInfo(path) : new FileInfo(path);
        if (!info.Exists)
        {
            return; // gone since the process opened it; CRIU keeps such files in the images
        }
        files[path] = info is FileInfo file
            ? new FileFact(path, (ulong)file.Length, ModificationNs(file), executable ? Hash(path) : ReadOnlyMemory<byte>.Empty, writable, Directory: false)
            : new FileFact(path, 0, 0, ReadOnlyMemory<byte>.Empty, writable, Directory: true);
    }

    private static IEnumerable<(string Path, bool Writable)> OpenFiles(int pid) =>
        ProcFs.OpenFiles(pid)
            .Where(file => IsPlainPath(file.Target))
            .Select(file => (file.Target, ProcFs.DescriptorFlags(pid, file.Fd) is { } flags && (flags & AccessModeMask) != ReadOnly));

    /// <summary>
    /// A path of the file system, not a pipe, socket or anonymous inode, not a
    /// device or kernel file (CRIU restores those in its own ways), and not a
    /// file deleted while open (CRIU carries its content in the images).
    /// </summary>
    private static bool IsPlainPath(string path) =>
        path.StartsWith('/') && !path.EndsWith(" (deleted)", StringComparison.Ordinal) &&
        !path.StartsWith("/dev/", StringComparison.Ordinal) && !path.StartsWith("/proc/", StringComparison.Ordinal) &&
        !path.StartsWith("/sys/", StringComparison.Ordinal) && !path.StartsWith("/memfd:", StringComparison.Ordinal);

    private static long ModificationNs(FileInfo file) => (file.LastWriteTimeUtc - DateTime.UnixEpoch).Ticks * 100;

    private static string Describe(long ns) =>
        DateTime.UnixEpoch.AddTicks(ns / 100).ToString("yyyy-MM-dd HH:mm:ss.fffffff", CultureInfo.InvariantCulture);

    private static byte[] Hash(string path)
    {
        var hash = new XxHash128();
        using var stream = File.OpenRead(path);
        hash.Append(stream);
        return hash.GetCurrentHash();
    }
}
