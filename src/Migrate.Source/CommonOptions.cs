using System.CommandLine;
using Migrate.Engine.Protocol;

namespace Migrate.Source;

/// <summary>Options several commands share, made one way.</summary>
internal static class CommonOptions
{
    public static Option<string> Target() => new("--to")
    {
        Description = "The target agent, HOST:PORT",
        Required = true,
    };

    public static Option<string> TokenFile() => new("--token-file")
    {
        Description = "File holding the target agent's token",
        DefaultValueFactory = _ => "/etc/migrate/token",
    };

    public static Option<bool> Verbose() => new("--verbose", "-v")
    {
        Description = "Log what the engine does to standard error",
    };

    public static TargetAddress ParseTarget(string text)
    {
        try
        {
            return TargetAddress.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"--to: {e.Message}");
        }
    }

    public static string ReadToken(string path)
    {
        string token;
        try
        {
            token = File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new UsageException($"the token file {path} does not exist: copy it from the target host (migrate-target writes it to its --token-file), or name it with --token-file");
        }
        catch (UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read the token file {path}: permission denied (migrate runs as root; the file is root's, mode 0600)");
        }
        return token.Length > 0 ? token : throw new UsageException($"the token file {path} is empty: copy it again from the target host");
    }
}
