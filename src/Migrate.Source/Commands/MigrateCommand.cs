using System.CommandLine;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Criu;
using Migrate.Engine.Migration.Source;
using Migrate.Engine.Protocol;

namespace Migrate.Source.Commands;

/// <summary><c>migrate --to HOST:PORT PID</c>: moves one process tree to a target agent.</summary>
internal sealed class MigrateCommand
{
    private readonly Argument<int> _pid = new("PID") { Description = "The process to migrate, with its descendants" };
    private readonly Option<string> _to = CommonOptions.Target();
    private readonly CredentialOptionSet _credentials = new();
    private readonly Option<string?> _report = new("--report") { Description = "Write the JSON report to this file" };
    private readonly MigrationOptionSet _migration = new();
    private readonly Option<bool> _json = new("--json") { Description = "Print the JSON report instead of the summary" };
    private readonly Option<bool> _quiet = new("--quiet", "-q") { Description = "Print no progress, only the result" };
    private readonly Option<bool> _verbose = CommonOptions.Verbose();

    public void AddTo(RootCommand root)
    {
        root.Arguments.Add(_pid);
        foreach (var option in new Option[] { _to, _report, _json, _quiet, _verbose })
        {
            root.Options.Add(option);
        }
        _credentials.AddTo(root);
        _migration.AddTo(root);
        root.SetAction(RunAsync);
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var address = CommonOptions.ParseTarget(parse.GetValue(_to)!);
        var credentials = _credentials.Build(parse);
        var options = _migration.Build(parse, parse.GetValue(_pid));
        bool json = parse.GetValue(_json);
        using var loggers = Logging.Create(parse.GetValue(_verbose));
        using var target = new GrpcTargetAgent(address, credentials);
        var criu = new CriuClient(new CriuSettings(), TimeProvider.System, loggers.CreateLogger<CriuClient>());
        var report = await ProgressDisplay.RunAsync(parse.GetValue(_quiet) || json, progress =>
            SourceMigration.OnThisHost(criu, target, options, TimeProvider.System, loggers.CreateLogger<SourceMigration>(), progress)
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
