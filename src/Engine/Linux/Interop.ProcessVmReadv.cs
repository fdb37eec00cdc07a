using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    /// <summary>struct iovec (sys/uio.h)</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    /// <summary>man 2 process_vm_readv</summary>
    [LibraryImport(Libc, EntryPoint = "process_vm_readv", SetLastError = true)]
    internal static unsafe partial nint ProcessVmReadv(int pid, IoVec* local, ulong localCount, IoVec* remote, ulong remoteCount, ulong flags);
}
