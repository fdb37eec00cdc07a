using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace Migrate.Source;

/// <summary>
/// Help for <c>migrate check</c>, <c>evacuate</c>, <c>commit</c> and <c>abort</c>
/// without the root's PID. System.CommandLine writes a parent command's arguments
/// into a subcommand's usage and arguments sections, so <c>migrate commit --help</c>
/// read "migrate &lt;PID&gt; commit" and listed a PID that commit does not take: the
/// root's PID belongs to the migration itself, the root's own action. Its help
/// layout cannot be replaced (its context type is internal), so for a subcommand
/// the root's arguments are taken away just before the standard help is written;
/// nothing runs after help.
/// </summary>
internal sealed class SubcommandHelp(RootCommand root, HelpAction standard) : SynchronousCommandLineAction
{
    public override bool ClearsParseErrors => true;

    public static void Install(RootCommand root)
    {
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new SubcommandHelp(root, (HelpAction)help.Action!);
    }

    public override int Invoke(ParseResult parseResult)
    {
        if (parseResult.CommandResult.Command != root)
        {
            root.Arguments.Clear();
        }
        return standard.Invoke(parseResult);
    }
}
