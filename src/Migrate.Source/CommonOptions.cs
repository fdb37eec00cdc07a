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
}
