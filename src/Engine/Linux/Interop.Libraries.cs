namespace Migrate.Engine.Linux;

/// <summary>
/// The system calls the engine makes, one file per call group, in the style of
/// dotnet/runtime's <c>Interop.Sys</c>: each import returns what the C call
/// returns and leaves errno for <see cref="CheckIo(int, string, string?)"/>,
/// which turns a failure into a <see cref="LinuxException"/> naming the call and
/// what it was made on. Descriptors travel as <see cref="System.Runtime.InteropServices.SafeHandle"/>s.
/// </summary>
internal static partial class Interop
{
    internal const string Libc = "libc";

    /// <summary>Returns <paramref name="result"/>, or throws if the call that returned it failed.</summary>
    internal static int CheckIo(int result, string operation, string? subject = null) =>
        result < 0 ? throw LinuxException.FromLastError(operation, subject) : result;

    /// <inheritdoc cref="CheckIo(int, string, string?)"/>
    internal static long CheckIo(long result, string operation, string? subject = null) =>
        result < 0 ? throw LinuxException.FromLastError(operation, subject) : result;
}
