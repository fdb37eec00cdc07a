using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    /// <summary>
    /// System call numbers: of calls glibc 2.36 (bookworm's) has no wrapper
    /// for, and of those run inside a traced process. The pidfd calls have the
    /// same numbers on every architecture (include/uapi/asm-generic/unistd.h).
    /// </summary>
    internal static class SyscallNumbers
    {
        public const long PidfdSendSignal = 424;
        public const long PidfdOpen = 434;
        public const long PidfdGetfd = 438;

        // x86-64's (arch/x86/entry/syscalls/syscall_64.tbl): write tracking,
        // which uses them, injects calls with x86-64 registers and runs there only.
        public const long Close = 3;
        public const long Tgkill = 234;
        public const long Kcmp = 312;
        public const long Userfaultfd = 323;
    }

    // syscall(2) passes on as many arguments as the call takes: every one is
    // given, zero where the call has fewer, so none is left to chance.

    /// <summary>man 2 syscall</summary>
    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall(long number, long argument1, long argument2, long argument3, long argument4, long argument5);

    /// <summary>man 2 syscall, for calls whose first argument is a descriptor.</summary>
    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall(long number, SafeHandle fd, long argument2, long argument3, long argument4, long argument5);
}
