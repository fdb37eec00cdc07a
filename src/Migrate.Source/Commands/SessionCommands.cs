using System.CommandLine;
using Migrate.Engine.Credentials;
using Migrate.Engine.Protocol;

namespace Migrate.Source.Commands;

/// <summary>
/// <c>migrate commit</c> and <c>migrate abort</c> settle a session whose
/// source agent could not: the way out when the source died, or lost the
/// target, between the freeze and the end (README, "When an agent crashes").
/// A session belongs to the source that opened it, and that source's secret
/// died with it: settling by hand takes the target's operator file instead.
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
        var credentials = new CredentialOptionSet();
        var operatorFile = new Option<string?>("--operator-file")
        {
            Description = "The target's operator file, which migrate-target keeps beside its token file (default: the --token-file path with .operator)",
        };
        var session = new Option<string>("--session") { Description = "The session ID that migrate printed", Required = true };
        var command = new Command(name, description) { to, operatorFile, session };
        credentials.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var address = CommonOptions.ParseTarget(parse.GetValue(to)!);
            var id = parse.GetValue(session)!;
            if (!SessionIds.IsValid(id))
            {
                await Console.Error.WriteLineAsync($"migrate: '{id}' is not a session ID: copy the {SessionIds.Length} hex digits migrate printed");
                return ExitCodes.Usage;
            }
            var operatorPath = parse.GetValue(operatorFile) ?? CredentialFile.OperatorPathFor(credentials.TokenFile(parse));
            using var target = new GrpcTargetAgent(address, credentials.Build(parse) with { OperatorSecret = ReadOperatorSecret(operatorPath) });
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

    private static string ReadOperatorSecret(string path)
    {
        if (!File.Exists(path))
        {
            throw new UsageException(
                $"there is no operator file {path}: a session belongs to the source that opened it, and settling it by hand takes the target's " +
                "operator file, which migrate-target keeps beside its token file on the target host. Run this there, or name a copy with --operator-file");
        }
        try
        {
            return OperatorFile.Parse(SecretFiles.Read(path, "operator file"), path).Secret;
        }
        catch (CredentialException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
