using System.Runtime.InteropServices;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    /// <summary>man 2 process_vm_readv</summary>
    [LibraryImport(Libc, EntryPoint = "process_vm_readv", SetLastError = true)]
    private static unsafe partial nint ProcessVmReadvNative(int pid, IoVec* local, ulong localCount, IoVec* remote, ulong remoteCount, ulong flags);

    /// <summary>
    /// Copies the remote ranges into <paramref name="destination"/>, back to
    /// back. Returns the bytes copied: fewer than asked when a range stopped
    /// being mapped (the copy ends at the first page that faults), or -1 when
    /// the process has gone.
    /// </summary>
    public static unsafe long ReadProcessMemory(int pid, ReadOnlySpan<IoVec> remote, Span<byte> destination)
    {
        fixed (byte* buffer = destination)
        fixed (IoVec* ranges = remote)
        {
            var local = new IoVec { Base = (nint)buffer, Length = (nuint)destination.Length };
            nint copied = ProcessVmReadvNative(pid, &local, 1, ranges, (ulong)remote.Length, 0);
            if (copied >= 0)
            {
                return copied;
            }
            return LastErrno switch
            {
                Errno.ESRCH => -1,
                Errno.EFAULT => 0,
                _ => throw LastError("process_vm_readv", $"pid {pid}"),
            };
        }
    }
}
