namespace Migrate.Engine.Criu;

/// <summary>
/// CRIU refused or failed a request. <see cref="ErrorLines"/> holds the error
/// lines of CRIU's own log, which say why.
/// </summary>
public sealed class CriuException : Exception
{
    public CriuException(string action, string summary, IReadOnlyList<string> errorLines, string? logPath)
        : base(Format(action, summary, errorLines, logPath))
    {
        Action = action;
        ErrorLines = errorLines;
        LogPath = logPath;
    }

    /// <summary>What CRIU was asked to do: dump, restore, check, ...</summary>
    public string Action { get; }

    public IReadOnlyList<string> ErrorLines { get; }

    /// <summary>CRIU's full log, when it wrote one.</summary>
    public string? LogPath { get; }

    private static string Format(string action, string summary, IReadOnlyList<string> errorLines, string? logPath)
    {
        var message = $"criu {action} failed: {summary}";
        if (errorLines.Count > 0)
        {
            message += Environment.NewLine + string.Join(Environment.NewLine, errorLines.Select(line => "  " + line));
        }
        if (logPath is not null)
        {
            message += Environment.NewLine + $"  (full log: {logPath})";
        }
        return message;
    }
}
