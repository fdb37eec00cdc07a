using System.CommandLine;
using Migrate.Lab.Commands;
using Migrate.Lab.Infrastructure;

using var interrupts = new Interrupts();
var root = new RootCommand("Migrate.Lab: the downtime lab's matrix, the whole-migration benchmark and the downtime floor, with real agents and real CRIU");
root.Subcommands.Add(new MatrixCommand().Build());
root.Subcommands.Add(new BenchCommand().Build());
root.Subcommands.Add(new FloorCommand().Build());

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"Migrate.Lab: {error.Message}");
    }
    Console.Error.WriteLine("Try 'Migrate.Lab --help'.");
    return 2;
}
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }, interrupts.Token);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"Migrate.Lab: {e.Message}");
    return 2;
}
catch (LabException e)
{
    Console.Error.WriteLine($"Migrate.Lab: error: {e.Message}");
    return 1;
}
catch (OperationCanceledException) when (interrupts.Token.IsCancellationRequested)
{
    Console.Error.WriteLine("Migrate.Lab: interrupted; what it started has been ended");
    return 130;
}
