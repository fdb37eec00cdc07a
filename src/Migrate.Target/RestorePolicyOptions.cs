using System.CommandLine;
using Migrate.Engine.Compat;

namespace Migrate.Target;

/// <summary>The flags that narrow what a source may make this agent restore (README, Security).</summary>
internal sealed class RestorePolicyOptions
{
    private readonly Option<string?> _uids = Validated("--allow-uids",
        "Restore only processes whose user IDs are all in this list, e.g. 1000-1999,33 (default: any)", list => IdRanges.Parse(list));

    private readonly Option<string?> _gids = Validated("--allow-gids",
        "Restore only processes whose group IDs, supplementary ones included, are all in this list (default: any)", list => IdRanges.Parse(list));

    private readonly Option<bool> _denyRoot = new("--deny-root")
    {
        Description = "Restore no process that holds uid 0, and no user namespace that maps it",
    };

    private readonly Option<string?> _capabilities = Validated("--allow-capabilities",
        "Restore only processes holding no capability but these, e.g. net_bind_service,chown, or none (default: any)", list => Capabilities.ParseSet(list));

    private readonly Option<string?> _namespaces = Validated("--allow-namespaces",
        "Let CRIU create only these namespaces for a restored tree: mnt, net, pid, ipc, uts, user, time, or none (default: any)",
        list => RestorePolicy.ParseNamespaces(list));

    public IEnumerable<Option> All => [_uids, _gids, _denyRoot, _capabilities, _namespaces];

    public RestorePolicy Read(ParseResult parse)
    {
        var policy = new RestorePolicy
        {
            Uids = parse.GetValue(_uids) is { } uids ? IdRanges.Parse(uids) : null,
            Gids = parse.GetValue(_gids) is { } gids ? IdRanges.Parse(gids) : null,
            DenyRoot = parse.GetValue(_denyRoot),
            Capabilities = parse.GetValue(_capabilities) is { } capabilities ? Capabilities.ParseSet(capabilities) : null,
            Namespaces = parse.GetValue(_namespaces) is { } namespaces ? RestorePolicy.ParseNamespaces(namespaces) : null,
        };
        return policy == new RestorePolicy() ? RestorePolicy.Default : policy;
    }

    private static Option<string?> Validated(string name, string description, Action<string> parse)
    {
        var option = new Option<string?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            try
            {
                parse(result.GetValueOrDefault<string?>() ?? "");
            }
            catch (FormatException e)
            {
                result.AddError($"{name}: {e.Message}");
            }
        });
        return option;
    }
}
