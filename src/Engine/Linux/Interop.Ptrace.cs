using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    internal const int PTRACE_CONT = 7;
    internal const int PTRACE_SINGLESTEP = 9;
    internal const int PTRACE_GETREGS = 12;
    internal const int PTRACE_SETREGS = 13;
    internal const int PTRACE_DETACH = 17;
    internal const int PTRACE_GETSIGINFO = 0x4202;
    internal const int PTRACE_SETSIGINFO = 0x4203;
    internal const int PTRACE_SEIZE = 0x4206;
    internal const int PTRACE_INTERRUPT = 0x4207;
    internal const int PTRACE_GETSIGMASK = 0x420a;
    internal const int PTRACE_SETSIGMASK = 0x420b;

    /// <summary>The stop a PTRACE_INTERRUPT or a group-stop of a seized tracee reports, in bits 16-23 of the wait status.</summary>
    internal const int PTRACE_EVENT_STOP = 128;

    /// <summary>si_code of the SIGTRAP an x86 single-step reports (arch/x86/kernel/step.c, user_single_step_report).</summary>
    internal const int TRAP_BRKPT = 1;

    /// <summary>struct user_regs_struct of x86-64 (sys/user.h), what PTRACE_GETREGS reads.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct UserRegs
    {
        public ulong R15;
        public ulong R14;
        public ulong R13;
        public ulong R12;
        public ulong Rbp;
        public ulong Rbx;
        public ulong R11;
        public ulong R10;
        public ulong R9;
        public ulong R8;
        public ulong Rax;
        public ulong Rcx;
        public ulong Rdx;
        public ulong Rsi;
        public ulong Rdi;
        public ulong OrigRax;
        public ulong Rip;
        public ulong Cs;
        public ulong Eflags;
        public ulong Rsp;
        public ulong Ss;
        public ulong FsBase;
        public ulong GsBase;
        public ulong Ds;
        public ulong Es;
        public ulong Fs;
        public ulong Gs;
    }

    /// <summary>siginfo_t (asm-generic/siginfo.h): 128 bytes, of which the engine reads the first three ints.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 128)]
    internal struct SigInfo
    {
        public int Signo;
        public int Errno;
        public int Code;
    }

    /// <summary>man 2 ptrace</summary>
    [LibraryImport(Libc, EntryPoint = "ptrace", SetLastError = true)]
    internal static partial long Ptrace(long request, int pid, nint address, nint data);
}
