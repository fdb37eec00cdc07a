namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    internal const int KCMP_FILE = 0;

    /// <summary>man 2 kcmp: 0 when the two processes' descriptors are the same open file.</summary>
    internal static int Kcmp(int pid1, int pid2, int type, long index1, long index2) =>
        (int)Syscall(SyscallNumbers.Kcmp, pid1, pid2, type, index1, index2);
}
