using System.CommandLine;
using System.Runtime.InteropServices;
using Migrate.Source;
using Migrate.Source.Commands;

var root = new RootCommand("migrate: live-migrate a running Linux process to another host with CRIU");
new MigrateCommand().AddTo(root);
root.Subcommands.Add(new CheckCommand().Build());
root.Subcommands.Add(SessionCommands.Commit());
root.Subcommands.Add(SessionCommands.Abort());

// Ctrl-C and SIGTERM cancel the work in progress. The commands decide what
// that means (a migration rolls back unless it is past its commit point),
// so the process must not be torn down under them.
using var interrupted = new CancellationTokenSource();
using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);

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
    return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }, interrupted.Token);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"migrate: {e.Message}");
    return ExitCodes.Usage;
}
catch (Exception e)
{
    Console.Error.WriteLine($"migrate: unexpected failure: {e.Message}");
    Console.Error.WriteLine("migrate: the process was not migrated; check that it runs on the source (ps -p PID) and report this error.");
    return ExitCodes.Failed;
}

void Cancel(PosixSignalContext context)
{
    context.Cancel = true;
    interrupted.Cancel();
}
