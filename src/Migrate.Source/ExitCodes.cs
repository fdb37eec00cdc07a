using Migrate.Engine.Migration;

namespace Migrate.Source;

/// <summary>The documented exit codes (README, "Exit codes").</summary>
internal static class ExitCodes
{
    public const int Migrated = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int Refused = 3;
    public const int RolledBack = 4;

    public static int For(MigrationOutcome outcome) => outcome switch
    {
        MigrationOutcome.Migrated => Migrated,
        MigrationOutcome.Refused => Refused,
        MigrationOutcome.RolledBack => RolledBack,
        _ => Failed,
    };
}

/// <summary>The operator's arguments are wrong; nothing was touched (exit 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
