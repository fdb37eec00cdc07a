using System.Globalization;

namespace Migrate.Engine.Images;

/// <summary>
/// Whose pages a pagemap holds, as CRIU's images name them: a task, by its
/// PID as the images have it (pagemap-PID.img, addresses in its memory), or a
/// shared memory object, by CRIU's shmid, the object's inode number
/// (pagemap-shmem-SHMID.img, addresses as offsets in the object; criu/shmem.c).
/// A SysV segment's inode is its IPC id, and the first segment's is 0.
/// </summary>
public readonly record struct PageOwner
{
    private const string TaskPrefix = "pagemap-";
    private const string SharedMemoryPrefix = "pagemap-shmem-";
    private const string Suffix = ".img";

    private PageOwner(int pid, uint? sharedMemoryId)
    {
        Pid = pid;
        SharedMemoryId = sharedMemoryId;
    }

    /// <summary>The task's PID, or 0 for shared memory.</summary>
    public int Pid { get; }

    /// <summary>The shared memory object's shmid, or null for a task.</summary>
    public uint? SharedMemoryId { get; }

    public bool IsSharedMemory => SharedMemoryId.HasValue;

    public string PagemapFileName => SharedMemoryId is { } id
        ? $"{SharedMemoryPrefix}{id.ToString(CultureInfo.InvariantCulture)}{Suffix}"
        : PagemapImage.FileName(Pid);

    public static PageOwner Task(int pid) =>
        pid > 0 ? new(pid, null) : throw new ArgumentOutOfRangeException(nameof(pid), pid, "a task's PID is positive");

    public static PageOwner SharedMemory(uint shmid) => new(0, shmid);

    /// <summary>The owner a pagemap image's file name names, or null for any other file.</summary>
    public static PageOwner? FromPagemapFileName(string fileName)
    {
        if (!fileName.EndsWith(Suffix, StringComparison.Ordinal))
        {
            return null;
        }
        var name = fileName.AsSpan(0, fileName.Length - Suffix.Length);
        if (name.StartsWith(SharedMemoryPrefix, StringComparison.Ordinal))
        {
            return uint.TryParse(name[SharedMemoryPrefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out uint id)
                ? SharedMemory(id) : null;
        }
        return name.StartsWith(TaskPrefix, StringComparison.Ordinal)
            && int.TryParse(name[TaskPrefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0
            ? Task(pid) : null;
    }

    public override string ToString() => SharedMemoryId is { } id ? $"shared memory {id}" : $"PID {Pid}";
}
