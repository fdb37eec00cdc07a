using System.CommandLine;
using Migrate.Common;
using Migrate.Source;
using Migrate.Source.Commands;

using var interrupts = new Interrupts();
var root = new RootCommand("migrate: live-migrate a running Linux process to another host with CRIU");
new MigrateCommand().AddTo(root);
root.Subcommands.Add(new CheckCommand().Build());
root.Subcommands.Add(new EvacuateCommand(interrupts).Build());
root.Subcommands.Add(SessionCommands.Commit());
root.Subcommands.Add(SessionCommands.Abort());
VersionOptionAction.Install(root, "migrate");
SubcommandHelp.Install(root);

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"migrate: {error.Message}");
    }
    Console.Error.WriteLine("Try 'migrate --help'.");
    return ExitCodes.Usage;
}
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }, interrupts.First);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"migrate: {e.Message}");
    return ExitCodes.Usage;
}
catch (Exception e)
{
    Console.Error.WriteLine($"migrate: unexpected failure: {e.Message}");
    Console.Error.WriteLine("migrate: where the process is could not be determined: check it here (ps -p PID) and in the target agent's log, and report this error.");
    return ExitCodes.Failed;
}
