namespace Migrate.Engine.Criu;

/// <summary>
/// Which criu the agents run. The package installs the CRIU build the project
/// needs next to the agents (/usr/lib/migrate/criu), so a host's own criu, if
/// it has one, stays the host's and is never replaced; a checkout's bin/ has
/// none and runs the criu on PATH that scripts/setup.sh provides.
/// </summary>
public static class CriuLocation
{
    private const string Name = "criu";

    /// <summary>The criu next to this program if there is one, else "criu", found on PATH.</summary>
    public static string Default { get; } = Find(AppContext.BaseDirectory);

    public static string Find(string programDirectory)
    {
        var bundled = Path.Combine(programDirectory, Name);
        return File.Exists(bundled) ? bundled : Name;
    }

    /// <summary>The file <paramref name="criuPath"/> runs, as execvp(3) would find it, or null when there is none.</summary>
    public static string? Resolve(string criuPath)
    {
        if (criuPath.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(criuPath) ? Path.GetFullPath(criuPath) : null;
        }
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, criuPath))
            .FirstOrDefault(File.Exists);
    }
}
