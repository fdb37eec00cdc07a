using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    /// <summary>RLIMIT_NOFILE (asm-generic/resource.h).</summary>
    internal const int RlimitNofile = 7;

    /// <summary>struct rlimit with 64-bit fields, as prlimit(2) takes it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Rlimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    /// <summary>man 2 prlimit; with <paramref name="newLimit"/> null it only reads.</summary>
    [LibraryImport(Libc, EntryPoint = "prlimit", SetLastError = true)]
    internal static unsafe partial int Prlimit(int pid, int resource, Rlimit* newLimit, Rlimit* oldLimit);
}
