using System.CommandLine;
using Migrate.Engine.Compat;
using Migrate.Engine.Images;

namespace Migrate.Target;

/// <summary>The flags that narrow what a source may make this agent restore (README, Security).</summary>
internal sealed class RestorePolicyOptions
{
    private readonly Option<string?> _uids = new("--allow-uids")
    {
        Description = "Restore only processes whose user IDs are all in this list, e.g. 1000-1999,33 (default: any)",
    };

    private readonly Option<string?> _gids = new("--allow-gids")
    {
        Description = "Restore only processes whose group IDs, supplementary ones included, are all in this list (default: any)",
    };

    private readonly Option<bool> _denyRoot = new("--deny-root")
    {
        Description = "Restore no process that holds uid 0, and no user namespace that maps it",
    };

    private readonly Option<string?> _capabilities = new("--allow-capabilities")
    {
        Description = "Restore only processes holding no capability but these, e.g. net_bind_service,chown, or none (default: any)",
    };

    private readonly Option<string?> _namespaces = new("--allow-namespaces")
    {
        Description = "Let CRIU create only these namespaces for a restored tree: mnt, net, pid, ipc, uts, user, time, or none (default: any)",
    };

    public IEnumerable<Option> All => [_uids, _gids, _denyRoot, _capabilities, _namespaces];

    /// <summary>The policy from the command line, else the configuration file; a list that does not parse is refused wherever it came from.</summary>
    public RestorePolicy Read(ParseResult parse, TargetConfigFile file)
    {
        var policy = new RestorePolicy
        {
            Uids = Parse(parse, file, _uids, IdRanges.Parse),
            Gids = Parse(parse, file, _gids, IdRanges.Parse),
            DenyRoot = file.Get(parse, _denyRoot, false),
            Capabilities = Parse(parse, file, _capabilities, list => (ulong?)Capabilities.ParseSet(list)),
            Namespaces = Parse(parse, file, _namespaces, list => (TreeNamespaces?)RestorePolicy.ParseNamespaces(list)),
        };
        return policy == new RestorePolicy() ? RestorePolicy.Default : policy;
    }

    private static T? Parse<T>(ParseResult parse, TargetConfigFile file, Option<string?> option, Func<string, T> parseList)
    {
        if (file.Get(parse, option, null) is not { } list)
        {
            return default;
        }
        try
        {
            return parseList(list);
        }
        catch (FormatException e)
        {
            throw new TargetConfigException($"{option.Name}: {e.Message}");
        }
    }
}
