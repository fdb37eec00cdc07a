using System.CommandLine;
using Migrate.Engine.Compat;
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

    public static Option<bool> AllowUprobes() => new("--allow-uprobes")
    {
        Description = "Migrate a process that uprobes have hit (it has a [uprobes] area); see --uprobes",
    };

    public static Option<string> UprobeMode() => new Option<string>("--uprobes")
    {
        Description = "With --allow-uprobes: require (each probe site must have a live probe on the target) or strip (restore the file's bytes; the process runs unprobed there)",
        DefaultValueFactory = _ => "require",
    }.AcceptOnlyFromAmong("require", "strip");

    public static Option<string[]> IgnoreCheck() => new("--ignore-check")
    {
        Description = "Let a failed pre-flight check only warn (repeatable); the operator takes the risk it names",
        DefaultValueFactory = _ => [],
    };

    public static UprobePolicy ParseUprobes(bool allow, string mode) =>
        new(allow, mode == "strip" ? Engine.Compat.UprobeMode.Strip : Engine.Compat.UprobeMode.Require);

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
