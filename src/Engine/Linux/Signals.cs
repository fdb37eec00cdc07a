namespace Migrate.Engine.Linux;

/// <summary>Signal numbers (asm-generic/signal.h; the same on x86-64 and arm64).</summary>
internal static class Signals
{
    public const int SIGKILL = 9;
    public const int SIGCONT = 18;
}
