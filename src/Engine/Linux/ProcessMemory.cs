namespace Migrate.Engine.Linux;

/// <summary>Reads another process's memory (man 2 process_vm_readv).</summary>
internal static class ProcessMemory
{
    /// <summary>
    /// Copies the remote ranges into <paramref name="destination"/>, back to
    /// back. Returns the bytes copied: fewer than asked when a range stopped
    /// being mapped (the copy ends at the first page that faults), or -1 when
    /// the process has gone.
    /// </summary>
    public static unsafe long Read(int pid, ReadOnlySpan<Interop.IoVec> remote, Span<byte> destination)
    {
        fixed (byte* buffer = destination)
        fixed (Interop.IoVec* ranges = remote)
        {
            var local = new Interop.IoVec { Base = (nint)buffer, Length = (nuint)destination.Length };
            nint copied = Interop.ProcessVmReadv(pid, &local, 1, ranges, (ulong)remote.Length, 0);
            if (copied >= 0)
            {
                return copied;
            }
            var error = LinuxException.FromLastError("process_vm_readv", $"pid {pid}");
            return error.Errno switch
            {
                Errno.ESRCH => -1,
                Errno.EFAULT => 0,
                _ => throw error,
            };
        }
    }

    /// <summary>Copies <paramref name="destination"/>'s length of bytes from <paramref name="address"/>; returns as <see cref="Read(int, ReadOnlySpan{Interop.IoVec}, Span{byte})"/> does.</summary>
    public static long Read(int pid, ulong address, Span<byte> destination)
    {
        ReadOnlySpan<Interop.IoVec> remote = [new Interop.IoVec { Base = (nint)address, Length = (nuint)destination.Length }];
        return Read(pid, remote, destination);
    }
}
