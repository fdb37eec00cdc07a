using System.CommandLine;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Criu;
using Migrate.Engine.Migration;
using Migrate.Engine.Transfer;

namespace Migrate.Source.Commands;

/// <summary><c>migrate --to HOST:PORT PID</c>: moves one process tree to a target agent.</summary>
internal sealed class MigrateCommand
{
    private readonly Argument<int> _pid = new("PID") { Description = "The process to migrate, with its descendants" };
    private readonly Option<string> _to = CommonOptions.Target();
    private readonly Option<string> _tokenFile = CommonOptions.TokenFile();
    private readonly Option<string?> _report = new("--report") { Description = "Write the JSON report to this file" };
    private readonly Option<bool> _shellJob = new("--shell-job") { Description = "The process belongs to a terminal session (criu --shell-job)" };
    private readonly Option<bool> _tcpEstablished = new("--tcp-established") { Description = "Migrate established TCP connections (criu --tcp-established)" };
    private readonly Option<bool> _keepImages = new("--keep-images") { Description = "Keep the source's image files after the migration" };
    private readonly Option<string> _workDir = new("--work-dir")
    {
        Description = "Directory for the source's images and CRIU logs",
        DefaultValueFactory = _ => "/var/tmp/migrate",
    };
    private readonly Option<string> _precopy = new Option<string>("--precopy")
    {
        Description = "How to find memory that changed during pre-copy: auto (soft-dirty when the kernel has it, else content-hash), soft-dirty, content-hash or off",
        DefaultValueFactory = _ => "auto",
    }.AcceptOnlyFromAmong("auto", "soft-dirty", "content-hash", "off");
    private readonly Option<int> _maxRounds = new("--max-rounds")
    {
        Description = "Most pre-copy rounds before the final freeze",
        DefaultValueFactory = _ => 8,
    };
    private readonly Option<int> _downtimeTarget = new("--downtime-target")
    {
        Description = "Stop pre-copy once the final transfer is predicted to take at most this many milliseconds",
        DefaultValueFactory = _ => 300,
    };
    private readonly Option<bool> _requireConvergence = new("--require-convergence")
    {
        Description = "If pre-copy does not converge, stop before the freeze (exit 3) instead of migrating anyway",
    };
    private readonly Option<string> _restore = new Option<string>("--restore")
    {
        Description = "lazy: resume on the target before all memory is loaded; eager: load it all first",
        DefaultValueFactory = _ => "lazy",
    }.AcceptOnlyFromAmong("lazy", "eager");
    private readonly Option<bool> _allowUprobes = CommonOptions.AllowUprobes();
    private readonly Option<string> _uprobes = CommonOptions.UprobeMode();
    private readonly Option<string[]> _ignoreCheck = CommonOptions.IgnoreCheck();
    private readonly Option<bool> _json = new("--json") { Description = "Print the JSON report instead of the summary" };
    private readonly Option<bool> _quiet = new("--quiet", "-q") { Description = "Print no progress, only the result" };
    private readonly Option<bool> _verbose = CommonOptions.Verbose();

    public void AddTo(RootCommand root)
    {
        root.Arguments.Add(_pid);
        foreach (var option in new Option[]
        {
            _to, _tokenFile, _report, _shellJob, _tcpEstablished, _keepImages, _workDir,
            _precopy, _maxRounds, _downtimeTarget, _requireConvergence, _restore, _allowUprobes, _uprobes, _ignoreCheck, _json, _quiet, _verbose,
        })
        {
            root.Options.Add(option);
        }
        root.SetAction(RunAsync);
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var address = CommonOptions.ParseTarget(parse.GetValue(_to)!);
        var token = CommonOptions.ReadToken(parse.GetValue(_tokenFile)!);
        int maxRounds = parse.GetValue(_maxRounds);
        int downtimeTarget = parse.GetValue(_downtimeTarget);
        if (maxRounds < 1)
        {
            throw new UsageException("--max-rounds must be at least 1 (use --precopy off for no pre-copy)");
        }
        if (downtimeTarget < 1)
        {
            throw new UsageException("--downtime-target must be a positive number of milliseconds");
        }
        var options = new MigrationOptions
        {
            Pid = parse.GetValue(_pid),
            WorkDirectory = parse.GetValue(_workDir)!,
            ShellJob = parse.GetValue(_shellJob),
            TcpEstablished = parse.GetValue(_tcpEstablished),
            KeepImages = parse.GetValue(_keepImages),
            Precopy = parse.GetValue(_precopy) switch
            {
                "soft-dirty" => PrecopyChoice.SoftDirty,
                "content-hash" => PrecopyChoice.ContentHash,
                "off" => PrecopyChoice.Off,
                _ => PrecopyChoice.Auto,
            },
            MaxRounds = maxRounds,
            DowntimeTarget = TimeSpan.FromMilliseconds(downtimeTarget),
            RequireConvergence = parse.GetValue(_requireConvergence),
            LazyRestore = parse.GetValue(_restore) == "lazy",
            Uprobes = CommonOptions.ParseUprobes(parse.GetValue(_allowUprobes), parse.GetValue(_uprobes)!),
            IgnoredChecks = parse.GetValue(_ignoreCheck)!.ToHashSet(StringComparer.Ordinal),
        };
        bool json = parse.GetValue(_json);
        using var loggers = Logging.Create(parse.GetValue(_verbose));
        using var target = new TargetClient(address, token);
        var criu = new CriuClient(new CriuSettings());
        var report = await ProgressDisplay.RunAsync(parse.GetValue(_quiet) || json, progress =>
            new SourceSession(criu, target, options, TimeProvider.System, loggers.CreateLogger<SourceSession>()) { Progress = progress }
                .RunAsync(cancellationToken));

        if (parse.GetValue(_report) is { } reportPath)
        {
            await File.WriteAllTextAsync(reportPath, report.ToJson(), CancellationToken.None);
        }
        if (json)
        {
            Console.WriteLine(report.ToJson());
        }
        else
        {
            ReportPrinter.Print(report, Console.Out);
        }
        return ExitCodes.For(report.Outcome);
    }
}
