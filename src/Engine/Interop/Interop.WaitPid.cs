using System.Runtime.InteropServices;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    private const int WNOHANG = 1;

    /// <summary>man 2 waitpid</summary>
    [LibraryImport(Libc, EntryPoint = "waitpid", SetLastError = true)]
    private static unsafe partial int WaitPidNative(int pid, int* status, int options);

    /// <summary>Reaps <paramref name="pid"/> if it has exited. Returns false if it has not, or is not our child.</summary>
    public static unsafe bool TryReap(int pid)
    {
        int status;
        return WaitPidNative(pid, &status, WNOHANG) == pid;
    }
}
