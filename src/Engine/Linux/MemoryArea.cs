namespace Migrate.Engine.Linux;

/// <summary>
/// One line of /proc/PID/maps (proc(5)): a VMA. <see cref="Offset"/> is the
/// file offset of a file mapping, and 0 for anonymous memory: the kernel shows
/// no vm_pgoff without a file (fs/proc/task_mmu.c, show_map_vma), so an area
/// moved by mremap reads as any new one.
/// </summary>
public readonly record struct MemoryArea(
    ulong Start, ulong End, bool Readable, bool Writable, bool Executable, bool Private, ulong Offset, DeviceNumber Device, ulong Inode, string Path)
{
    public ulong Pages => (End - Start) / PageSize.Bytes;

    public bool IsFileBacked => Path.StartsWith('/');

    /// <summary>The kernel's own areas, set up anew for every process (vDSO, vvar, vsyscall, uprobes).</summary>
    public bool IsKernelSpecial => Path is "[vsyscall]" or "[vvar]" or "[vvar_vclock]" or "[vdso]" or "[uprobes]";

    public bool Contains(ulong address) => address >= Start && address < End;

    /// <summary>An attached SysV shared memory segment: the kernel names it /SYSV and the key in hexadecimal (ipc/shm.c).</summary>
    public bool IsSysvSegment => !Private && Path.StartsWith("/SYSV", StringComparison.Ordinal);

    /// <summary>
    /// Shared memory whose pages CRIU dumps itself, as images of their own
    /// (criu/shmem.c, criu/memfd.c): anonymous shared memory (the kernel names
    /// it /dev/zero), a memfd, or a SysV segment. A shared file mapping is not:
    /// its pages are the file's.
    /// </summary>
    public bool IsSharedMemoryObject => !Private &&
        (Path.StartsWith("/dev/zero", StringComparison.Ordinal) || Path.StartsWith("/memfd:", StringComparison.Ordinal) || IsSysvSegment);
}
