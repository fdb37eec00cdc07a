namespace Migrate.Lab.Infrastructure;

/// <summary>Progress and warnings, on standard error; standard output carries only results.</summary>
internal static class Log
{
    public static void Info(string message) => Console.Error.WriteLine($"Migrate.Lab: {message}");

    public static void Warning(string message) => Console.Error.WriteLine($"Migrate.Lab: warning: {message}");
}
