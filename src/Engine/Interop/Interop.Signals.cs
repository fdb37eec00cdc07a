namespace Migrate.Engine.Interop;

/// <summary>Signal numbers (asm-generic/signal.h; the same on x86-64 and arm64).</summary>
internal static class Signals
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;
}
