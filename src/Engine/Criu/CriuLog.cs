using System.Text.RegularExpressions;

namespace Migrate.Engine.Criu;

/// <summary>Reads the lines that explain a failure out of a CRIU log file.</summary>
public static partial class CriuLog
{
    private const int MaxLines = 12;

    // CRIU prefixes each line with "(seconds.micros) " and, for errors,
    // "Error (file.c:line): " (criu/log.c, pr_err).
    [GeneratedRegex(@"^\(\s*[0-9.]+\)\s*")]
    private static partial Regex TimestampPrefix();

    [GeneratedRegex(@"\bError\b|\bBUG\b|\bFailed\b|\bfailed\b")]
    private static partial Regex FailureWord();

    /// <summary>
    /// The error lines of the log, without timestamps; the last lines of the log
    /// when none says "Error"; empty when there is no log.
    /// </summary>
    public static IReadOnlyList<string> ErrorLines(string? logPath)
    {
        if (logPath is null || !File.Exists(logPath))
        {
            return [];
        }
        var lines = File.ReadAllLines(logPath).Select(line => TimestampPrefix().Replace(line, "")).ToList();
        var errors = lines.Where(line => FailureWord().IsMatch(line)).ToList();
        var chosen = errors.Count > 0 ? errors : lines;
        return chosen.Skip(Math.Max(0, chosen.Count - MaxLines)).ToList();
    }
}
