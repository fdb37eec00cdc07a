using System.Globalization;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// Files the tree holds open or maps after they were deleted. No path on the
/// target can name them, so CRIU copies their content into the images as ghost
/// files (criu/files-reg.c, dump_ghost_remap), and refuses, at the dump and with
/// the tree frozen, one whose blocks on disk exceed --ghost-limit. This check
/// finds such a file before the freeze.
/// </summary>
public static class DeletedFiles
{
    public const string CheckName = "deleted-files";

    private const string DeletedSuffix = " (deleted)";

    /// <summary>A deleted file of the tree: a path it had, and its blocks on disk.</summary>
    public readonly record struct DeletedFile(int Pid, string Path, long AllocatedBytes);

    /// <summary>The deleted regular files the tasks hold, through their descriptors and their mappings; each once per task.</summary>
    public static IReadOnlyList<DeletedFile> Find(IEnumerable<int> pids) => pids.SelectMany(Find).ToList();

    public static CheckResult Check(IReadOnlyList<DeletedFile> files, long ghostLimit)
    {
        if (files.Count == 0)
        {
            return Checks.Pass(CheckName, "the tree holds no deleted files");
        }
        var largest = files.MaxBy(file => file.AllocatedBytes);
        if (largest.AllocatedBytes > ghostLimit)
        {
            return Checks.Fail(CheckName,
                $"task {largest.Pid} holds {largest.Path}, deleted, with {Kibibytes(largest.AllocatedBytes)} KiB on disk: " +
                $"CRIU copies a deleted file's content into the images only up to --ghost-limit ({Kibibytes(ghostLimit)} KiB)",
                $"pass --ghost-limit {Mebibytes(largest.AllocatedBytes)}M or more; the content crosses while the process is frozen");
        }
        return Checks.Pass(CheckName,
            $"the tree holds {Checks.Count(files.Count, "deleted file")}, at most {Kibibytes(largest.AllocatedBytes)} KiB on disk: CRIU copies their content");
    }

    private static IEnumerable<DeletedFile> Find(int pid)
    {
        var descriptors = ProcFs.OpenFiles(pid)
            .Where(file => IsDeletedFile(file.Target))
            .Select(file => (file.Target, Link: string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/fd/{file.Fd}")));
        var mappings = ProcFs.Maps.Read(pid)
            .Where(area => IsDeletedFile(area.Path))
            .Select(area => (Target: area.Path, Link: string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/map_files/{area.Start:x}-{area.End:x}")));
        return descriptors.Concat(mappings)
            .Select(file => (file.Target, Status: FileLocation.StatThrough(file.Link)))
            .Where(file => file.Status is { Kind: FileKind.Regular, Links: 0 })
            .DistinctBy(file => file.Status!.Value.Identity)
            .Select(file => new DeletedFile(pid, file.Target[..^DeletedSuffix.Length], file.Status!.Value.AllocatedBytes));
    }

    /// <summary>
    /// A file of the file system the kernel names deleted; not a memfd, SysV
    /// segment or anonymous shared memory, whose inodes are never linked and
    /// which CRIU dumps as memory (criu/memfd.c, criu/shmem.c).
    /// </summary>
    private static bool IsDeletedFile(string path) =>
        path.StartsWith('/') && path.EndsWith(DeletedSuffix, StringComparison.Ordinal) &&
        !path.StartsWith("/memfd:", StringComparison.Ordinal) && !path.StartsWith("/SYSV", StringComparison.Ordinal) &&
        !path.StartsWith("/dev/zero", StringComparison.Ordinal);

    private static long Kibibytes(long bytes) => (bytes + 1023) >> 10;

    private static long Mebibytes(long bytes) => (bytes + (1 << 20) - 1) >> 20;
}
