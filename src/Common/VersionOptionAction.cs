using System.CommandLine;
using System.CommandLine.Invocation;
using Migrate.Engine.Compat;
using Migrate.Engine.Criu;

namespace Migrate.Common;

/// <summary>
/// Both agents' --version: the build (version and commit) and the CRIU the
/// agent runs, where System.CommandLine's own would print the version alone.
/// Linked into both agents, which share no project but the engine.
/// </summary>
internal sealed class VersionOptionAction(string program) : AsynchronousCommandLineAction
{
    /// <summary>Like the built-in action, --version alone is enough: required options may be missing.</summary>
    public override bool ClearsParseErrors => true;

    public static void Install(RootCommand root, string program) =>
        root.Options.OfType<VersionOption>().Single().Action = new VersionOptionAction(program);

    public override async Task<int> InvokeAsync(ParseResult parseResult, CancellationToken cancellationToken = default)
    {
        await parseResult.InvocationConfiguration.Output.WriteLineAsync(
            await BuildInfo.DescribeAsync(program, new CriuClient(new CriuSettings(), TimeProvider.System), cancellationToken));
        return 0;
    }
}
