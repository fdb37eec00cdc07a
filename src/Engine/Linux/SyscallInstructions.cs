namespace Migrate.Engine.Linux;

/// <summary>Finds a <c>syscall</c> instruction already mapped executable in a process, to run injected calls at.</summary>
internal static class SyscallInstructions
{
    private const int ChunkBytes = 64 << 10;
    private const int MaxBytesPerArea = 4 << 20;

    private static ReadOnlySpan<byte> Syscall => [0x0f, 0x05];

    /// <summary>
    /// The address of bytes 0f 05 in executable memory of <paramref name="pid"/>:
    /// at that address the CPU decodes a syscall, wherever the instructions
    /// around it begin. The vDSO's fallbacks hold a few (its code is the
    /// kernel's, the same for every process); then any other executable area,
    /// but [vsyscall], which the kernel emulates at its entry points only.
    /// </summary>
    public static ulong? Find(int pid, IReadOnlyList<MemoryArea> areas)
    {
        var buffer = new byte[ChunkBytes];
        foreach (var area in areas.Where(area => area.Path == "[vdso]").Concat(areas.Where(area => area is { Executable: true, Readable: true, IsKernelSpecial: false })))
        {
            ulong end = Math.Min(area.End, area.Start + MaxBytesPerArea);
            // Chunks overlap by one byte, so a pair across two chunks is found.
            for (ulong at = area.Start; at + 1 < end; at += ChunkBytes - 1)
            {
                int length = (int)Math.Min(ChunkBytes, end - at);
                long read = ProcessMemory.Read(pid, at, buffer.AsSpan(0, length));
                if (read < 2)
                {
                    break;
                }
                int found = buffer.AsSpan(0, (int)read).IndexOf(Syscall);
                if (found >= 0)
                {
                    return at + (ulong)found;
                }
            }
        }
        return null;
    }
}
