namespace Migrate.Engine.Migration;

/// <summary>
/// The migration was refused before anything was frozen; the process was not
/// touched (exit code 3).
/// </summary>
public sealed class MigrationRefusedException(string message, Exception? inner = null) : Exception(message, inner);
