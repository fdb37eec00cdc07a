using System.CommandLine;
using Migrate.Engine.Protocol;

namespace Migrate.Source.Commands;

/// <summary>
/// <c>migrate commit</c> and <c>migrate abort</c> settle a session whose
/// source agent could not: the way out when the source died, or lost the
/// target, between the freeze and the end (README, "When an agent crashes").
/// </summary>
internal sealed class SessionCommands
{
    public static Command Commit() => Build(
        "commit",
        "Resume a session's restored copy on the target (after the source copy is gone)",
        async (target, session, cancellationToken) =>
        {
            var reply = await target.CommitAsync(session, cancellationToken);
            return $"session {session} committed: the process runs on {target.Address} as PID {reply.RootPid}";
        });

    public static Command Abort() => Build(
        "abort",
        "Kill a session's restored copy on the target and drop its images (resume the source copy with kill -CONT)",
        async (target, session, cancellationToken) =>
        {
            var reply = await target.AbortAsync(session, "aborted by the operator", cancellationToken);
            return $"session {session} aborted: {reply} restored tasks killed on {target.Address}";
        });

    private static Command Build(string name, string description, Func<ITargetAgent, string, CancellationToken, Task<string>> act)
    {
        var to = CommonOptions.Target();
        var tokenFile = CommonOptions.TokenFile();
        var session = new Option<string>("--session") { Description = "The session ID that migrate printed", Required = true };
        var command = new Command(name, description) { to, tokenFile, session };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var address = CommonOptions.ParseTarget(parse.GetValue(to)!);
            var id = parse.GetValue(session)!;
            if (!SessionIds.IsValid(id))
            {
                await Console.Error.WriteLineAsync($"migrate: '{id}' is not a session ID: copy the {SessionIds.Length} hex digits migrate printed");
                return ExitCodes.Usage;
            }
            using var target = new GrpcTargetAgent(address, CommonOptions.ReadToken(parse.GetValue(tokenFile)!));
            try
            {
                Console.WriteLine($"migrate: {await act(target, id, cancellationToken)}");
                return ExitCodes.Migrated;
            }
            catch (TargetException e)
            {
                await Console.Error.WriteLineAsync($"migrate: {name} failed: {e.Message}");
                return ExitCodes.Failed;
            }
        });
        return command;
    }
}
