using System.Runtime.InteropServices;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    private const int PR_SET_CHILD_SUBREAPER = 36;

    /// <summary>man 2 prctl</summary>
    [LibraryImport(Libc, EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    /// <summary>
    /// Makes orphaned descendants reparent to this process instead of to init
    /// (man 2 prctl, PR_SET_CHILD_SUBREAPER).
    /// </summary>
    public static void BecomeChildSubreaper()
    {
        if (Prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        {
            throw LastError("prctl(PR_SET_CHILD_SUBREAPER)");
        }
    }
}
