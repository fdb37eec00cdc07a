using System.CommandLine;
using Migrate.Lab.Bench;
using Migrate.Lab.Infrastructure;
using Migrate.Lab.Matrix;

namespace Migrate.Lab.Commands;

/// <summary>
/// <c>Migrate.Lab bench</c>: whole migrations on loopback into one target
/// agent, printing pre-copy's round-1 throughput and the methods' freezes
/// side by side. Exits 1 if a migration failed or a page was bad.
/// </summary>
internal sealed class BenchCommand
{
    private readonly Option<int> _size = new("--size-mib") { Description = "Size of each workload, MiB", DefaultValueFactory = _ => 256 };
    private readonly Option<int> _hot = new("--hot-mib") { Description = "The dirtier's hot set in the freeze part, MiB", DefaultValueFactory = _ => 16 };
    private readonly Option<int> _runs = new("--runs") { Description = "Runs", DefaultValueFactory = _ => 3 };
    private readonly Option<string> _methods = new("--methods")
    {
        Description = "Methods compared in the freeze part, comma-separated (migrate-based ones: "
            + string.Join(", ", MigrationMethods.All.Where(method => method.Mover is MigrateCli).Select(method => method.Name)) + ")",
        DefaultValueFactory = _ => "precopy,noprecopy",
    };
    private readonly Option<bool> _noSetup = new("--no-setup") { Description = "Do not run scripts/setup.sh first" };

    public Command Build()
    {
        var command = new Command("bench", "Whole migrations on loopback: pre-copy round-1 throughput, and each method's freeze")
        {
            _size, _hot, _runs, _methods, _noSetup,
        };
        command.SetAction(RunAsync);
        return command;
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var plan = Plan(parse);
        if (!Environment.IsPrivilegedProcess)
        {
            throw new LabException("run as root: CRIU and the target agent's PID namespace need it");
        }
        if (!parse.GetValue(_noSetup))
        {
            await Setup.RunAsync(cancellationToken);
        }
        var directory = Directory.CreateTempSubdirectory("migrate-bench.").FullName;
        try
        {
            var heapfill = await Workloads.BuildAsync("heapfill", directory, cancellationToken);
            var dirtier = await Workloads.BuildAsync("dirtier", directory, cancellationToken);
            await using var target = await LocalTarget.StartAsync(directory, cancellationToken);
            Log.Info($"target agent on 127.0.0.1:{target.Port}; load: {ProcFs.LoadAverages()}");
            var runner = new BenchRunner(plan, target, directory, heapfill, dirtier);
            await runner.RunAsync(cancellationToken);
            Console.WriteLine();
            Console.Write(BenchTables.Render(plan, runner));
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

    private BenchPlan Plan(ParseResult parse)
    {
        int size = parse.GetValue(_size), hot = parse.GetValue(_hot), runs = parse.GetValue(_runs);
        if (size < 1 || runs < 1 || hot < 1 || hot > size)
        {
            throw new UsageException("--size-mib and --runs at least 1, --hot-mib from 1 to --size-mib");
        }
        var methods = Lists.Words("--methods", parse.GetValue(_methods)!).Select(MigrationMethods.Find).ToList();
        foreach (var method in methods.Where(method => method.Mover is not MigrateCli))
        {
            throw new UsageException($"--methods: {method.Name} needs the lab (use the matrix); the bench runs migrate on loopback");
        }
        return new BenchPlan(size, hot, runs, methods);
    }
}
