namespace Migrate.Engine.Linux;

/// <summary>Signal numbers (asm-generic/signal.h, x86's asm/signal.h: the same for these on x86-64 and arm64).</summary>
internal static class Signals
{
    public const int SIGILL = 4;
    public const int SIGTRAP = 5;
    public const int SIGBUS = 7;
    public const int SIGFPE = 8;
    public const int SIGKILL = 9;
    public const int SIGSEGV = 11;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;
    public const int SIGTSTP = 20;
    public const int SIGTTIN = 21;
    public const int SIGTTOU = 22;
    public const int SIGSYS = 31;
}
