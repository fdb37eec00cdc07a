using System.CommandLine;
using Migrate.Engine.Transfer;

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
        try
        {
            var token = File.ReadAllText(path).Trim();
            return token.Length > 0 ? token : throw new UsageException($"token file {path} is empty");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read the token file {path}: {e.Message} (copy it from the target agent's --token-file)");
        }
    }
}
