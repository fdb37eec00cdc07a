using System.CommandLine;
using Migrate.Lab.Bench;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Commands;

/// <summary>
/// <c>Migrate.Lab floor</c>: the frozen time of an idle process moved by
/// migrate against CRIU's own dump and restore by hand, in the same run.
/// Exits 1 if a migration failed or a page was bad.
/// </summary>
internal sealed class FloorCommand
{
    private readonly Option<int> _size = new("--size-mib") { Description = "Size of the process migrate moves, MiB", DefaultValueFactory = _ => 64 };
    private readonly Option<int> _byHand = new("--byhand-mib") { Description = "Size of the process CRIU dumps and restores by hand, MiB", DefaultValueFactory = _ => 1 };
    private readonly Option<int> _runs = new("--runs") { Description = "Runs of each", DefaultValueFactory = _ => 5 };
    private readonly Option<bool> _noSetup = new("--no-setup") { Description = "Do not run scripts/setup.sh first" };

    public Command Build()
    {
        var command = new Command("floor", "The downtime floor: an idle process moved by migrate, beside CRIU's dump and restore by hand")
        {
            _size, _byHand, _runs, _noSetup,
        };
        command.SetAction(RunAsync);
        return command;
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var plan = new FloorPlan(parse.GetValue(_size), parse.GetValue(_byHand), parse.GetValue(_runs));
        if (plan.SizeMiB < 1 || plan.ByHandMiB < 1 || plan.Runs < 1)
        {
            throw new UsageException("--size-mib, --byhand-mib and --runs at least 1");
        }
        if (!Environment.IsPrivilegedProcess)
        {
            throw new LabException("run as root: CRIU and the target agent's PID namespace need it");
        }
        if (!parse.GetValue(_noSetup))
        {
            await Setup.RunAsync(cancellationToken);
        }
        var directory = Directory.CreateTempSubdirectory("migrate-floor.").FullName;
        try
        {
            var heapfill = await Workloads.BuildAsync("heapfill", directory, cancellationToken);
            await using var target = await LocalTarget.StartAsync(directory, cancellationToken);
            Log.Info($"target agent on 127.0.0.1:{target.Port}; load: {ProcFs.LoadAverages()}");
            var runner = new FloorRunner(plan, target, directory, heapfill);
            await runner.RunAsync(cancellationToken);
            Console.WriteLine();
            Console.Write(FloorTable.Render(plan, runner));
            if (runner.Failures > 0)
            {
                Log.Warning($"{runner.Failures} migration(s) failed or found a bad page");
                return 1;
            }
            return 0;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
