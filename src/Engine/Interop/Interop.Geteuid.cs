using System.Runtime.InteropServices;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    /// <summary>man 2 geteuid; never fails.</summary>
    [LibraryImport(Libc, EntryPoint = "geteuid")]
    private static partial uint GeteuidNative();

    public static uint EffectiveUid => GeteuidNative();
}
