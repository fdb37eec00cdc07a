using Migrate.Engine.Criu;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Source;

/// <summary>Which failures the phases handle as "did not migrate" rather than let escape as bugs.</summary>
internal static class SourceFailures
{
    /// <summary>Before the freeze: the process was never touched.</summary>
    public static bool BeforeFreeze(Exception e) =>
        e is MigrationRefusedException or TargetException or CriuException or CriuNotFoundException or CriuProcessExitedException
            or OperationCanceledException or IOException or InvalidDataException or TimeoutException or UnauthorizedAccessException;

    /// <summary>While frozen: CRIU rolls the tasks back.</summary>
    public static bool WhileFrozen(Exception e) => e is not (OutOfMemoryException or StackOverflowException);

    /// <summary>The words for the report's error.</summary>
    public static string Describe(Exception e) => e is OperationCanceledException ? "cancelled" : e.Message;

    /// <summary>Failed on the way to the target (connect, stream reset): worth another try.</summary>
    public static bool IsTransient(Exception? e) => e is TargetException { IsTransient: true };
}
