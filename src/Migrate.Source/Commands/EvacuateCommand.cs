using System.CommandLine;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Criu;
using Migrate.Engine.Migration;
using Migrate.Engine.Migration.Source;
using Migrate.Engine.Protocol;
using Spectre.Console;

namespace Migrate.Source.Commands;

/// <summary>
/// <c>migrate evacuate --to HOST:PORT [--to ...] (--pid ... | --pids-file | --match | --cgroup)</c>:
/// moves every selected process off this host, a few at a time, and says
/// which moved. A process that does not move keeps running here.
/// </summary>
internal sealed class EvacuateCommand(Interrupts interrupts)
{
    private readonly Option<string[]> _to = new("--to")
    {
        Description = "A target agent, HOST:PORT (repeat for several)",
        Required = true,
    };
    private readonly CredentialOptionSet _credentials = new();
    private readonly Option<int[]> _pid = new("--pid") { Description = "A process to move, with its descendants (repeatable)" };
    private readonly Option<string?> _pidsFile = new("--pids-file") { Description = "A file of PIDs, one per line (# starts a comment)" };
    private readonly Option<string?> _match = new("--match") { Description = "Every process whose command line matches this regular expression" };
    private readonly Option<string?> _cgroup = new("--cgroup") { Description = "Every process in this cgroup (v2, under /sys/fs/cgroup) and below" };
    private readonly Option<int> _parallel = new("--parallel")
    {
        Description = "How many processes migrate at once",
        DefaultValueFactory = _ => 2,
    };
    private readonly Option<string?> _report = new("--report") { Description = "Write the JSON report, one row per process, to this file" };
    private readonly Option<bool> _dryRun = new("--dry-run") { Description = "Check and place every process, print the plan, freeze nothing" };
    private readonly Option<bool> _json = new("--json") { Description = "Print the JSON report instead of the summary" };
    private readonly Option<bool> _verbose = CommonOptions.Verbose();
    private readonly MigrationOptionSet _migration = new();

    public Command Build()
    {
        var command = new Command("evacuate", "Move every selected process to the targets, a few at a time")
        {
            _to, _pid, _pidsFile, _match, _cgroup, _parallel, _report, _dryRun, _json, _verbose,
        };
        _credentials.AddTo(command);
        _migration.AddTo(command);
        command.SetAction(RunAsync);
        return command;
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var targets = parse.GetValue(_to)!.Select(CommonOptions.ParseTarget).ToList();
        int parallel = parse.GetValue(_parallel);
        if (parallel < 1)
        {
            throw new UsageException("--parallel must be at least 1");
        }
        var pids = Select(parse);
        var credentials = _credentials.Build(parse);
        bool json = parse.GetValue(_json);
        using var loggers = Logging.Create(parse.GetValue(_verbose));
        var display = new EvacuationDisplay();
        var evacuation = new Evacuation(
            new CriuClient(new CriuSettings(), TimeProvider.System, loggers.CreateLogger<CriuClient>()),
            new EvacuationOptions
            {
                Targets = targets,
                Credentials = credentials,
                Migration = _migration.Build(parse, pid: 0),
                Parallel = parallel,
            },
            TimeProvider.System,
            loggers)
        {
            Progress = json ? null : display,
            Steps = json ? null : display,
            TargetDown = new SynchronousReport<TargetHealth>(down =>
                Console.Error.WriteLine($"evacuate: skipping the target {down.Target}, which is down: {down.Detail}")),
        };

        long started = TimeProvider.System.GetTimestamp();
        Console.Error.WriteLine($"evacuate: checking {pids.Count} processes against {targets.Count} targets");
        IReadOnlyList<EvacuationPlacement> plan;
        try
        {
            plan = await evacuation.PlanAsync(pids, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("evacuate: interrupted while checking; nothing was frozen");
            return ExitCodes.Refused;
        }
        EvacuationReport report;
        if (parse.GetValue(_dryRun))
        {
            report = evacuation.Describe(plan, started);
        }
        else
        {
            Console.Error.WriteLine($"evacuate: migrating {plan.Count(p => p.Target is not null)} processes, {parallel} at a time (Ctrl-C: start no more; again: roll back those in flight)");
            report = await display.RunAsync(() => evacuation.RunAsync(plan, started, cancellationToken, interrupts.Second));
        }

        if (parse.GetValue(_report) is { } path)
        {
            await File.WriteAllTextAsync(path, report.ToJson(), CancellationToken.None);
        }
        if (json)
        {
            Console.WriteLine(report.ToJson());
        }
        else
        {
            Print(report);
        }
        return EvacuationOutcome.ExitCode(report);
    }

    /// <summary>Exactly one way of choosing processes.</summary>
    private IReadOnlyList<int> Select(ParseResult parse)
    {
        var pids = parse.GetValue(_pid) ?? [];
        var file = parse.GetValue(_pidsFile);
        var match = parse.GetValue(_match);
        var cgroup = parse.GetValue(_cgroup);
        int ways = (pids.Length > 0 ? 1 : 0) + (file is null ? 0 : 1) + (match is null ? 0 : 1) + (cgroup is null ? 0 : 1);
        if (ways != 1)
        {
            throw new UsageException("choose the processes one way: --pid, --pids-file, --match or --cgroup");
        }
        try
        {
            var selected = pids.Length > 0 ? ProcessSelection.FromPids(pids)
                : file is not null ? ProcessSelection.FromFile(file)
                : match is not null ? ProcessSelection.Matching(new Regex(match, RegexOptions.None, TimeSpan.FromSeconds(1)))
                : ProcessSelection.InCgroup(cgroup!);
            return selected.Count > 0 ? selected : throw new UsageException("no process matches the selection");
        }
        catch (Exception e) when (e is IOException or FormatException or ArgumentException or UnauthorizedAccessException)
        {
            throw new UsageException(e.Message);
        }
    }

    private static void Print(EvacuationReport report)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumns("pid", "command", "target", "outcome", "frozen", "on the wire", "detail");
        foreach (var row in report.Processes)
        {
            table.AddRow(
                row.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(row.Command ?? "?"), Markup.Escape(row.Target ?? "-"),
                Markup.Escape(row.Outcome), row.FrozenMs is { } ms ? Units.Milliseconds(ms) : "-", row.BytesOnWire > 0 ? Units.Bytes(row.BytesOnWire) : "-",
                Markup.Escape(row.Error ?? row.ProcessState));
        }
        AnsiConsole.Write(table);
        int moved = report.Processes.Count(row => row.Outcome == "migrated");
        Console.WriteLine(report.DryRun
            ? $"evacuate: dry run: {report.Processes.Count(row => row.Outcome == "planned")} of {report.Processes.Count} processes have a target; nothing was frozen"
            : $"evacuate: {moved} of {report.Processes.Count} processes moved in {Units.Milliseconds(report.TotalMs)}{(report.Interrupted ? " (interrupted)" : "")}");
    }

    private sealed class SynchronousReport<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
