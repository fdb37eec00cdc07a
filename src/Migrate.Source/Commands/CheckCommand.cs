using System.CommandLine;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Criu;
using Migrate.Engine.Compat;
using Migrate.Engine.Migration;
using Migrate.Engine.Migration.Source;
using Migrate.Engine.Protocol;
using Spectre.Console;

namespace Migrate.Source.Commands;

/// <summary>
/// <c>migrate check --to HOST:PORT PID</c>: every pre-flight check, freezing
/// nothing. Exit 0 when the process could migrate, 3 when a check fails.
/// </summary>
internal sealed class CheckCommand
{
    private readonly Argument<int> _pid = new("PID") { Description = "The process to check, with its descendants" };
    private readonly Option<string> _to = CommonOptions.Target();
    private readonly CredentialOptionSet _credentials = new();
    private readonly VerificationOptionSet _verification = new();
    private readonly Option<bool> _json = new("--json") { Description = "Print the checks as JSON" };
    private readonly Option<bool> _verbose = CommonOptions.Verbose();

    public Command Build()
    {
        var command = new Command("check", "Run every pre-flight check against a target without freezing anything")
        {
            _pid, _to, _json, _verbose,
        };
        _credentials.AddTo(command);
        _verification.AddTo(command);
        command.SetAction(RunAsync);
        return command;
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var address = CommonOptions.ParseTarget(parse.GetValue(_to)!);
        using var target = new GrpcTargetAgent(address, _credentials.Build(parse));
        using var loggers = Logging.Create(parse.GetValue(_verbose));
        var options = _verification.Apply(parse, new MigrationOptions { Pid = parse.GetValue(_pid), WorkDirectory = Path.GetTempPath() });
        var criu = new CriuClient(new CriuSettings(), TimeProvider.System, loggers.CreateLogger<CriuClient>());
        var report = await SourceMigration.OnThisHost(criu, target, options, TimeProvider.System, loggers.CreateLogger<SourceMigration>())
            .CheckAsync(cancellationToken);

        bool passed = report.Error is null;
        if (parse.GetValue(_json))
        {
            Console.WriteLine(report.ToJson());
        }
        else
        {
            Print(report, passed);
        }
        return passed ? ExitCodes.Migrated : ExitCodes.Refused;
    }

    private static void Print(MigrationReport report, bool passed)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumns("check", "result", "detail", "what to do");
        foreach (var check in report.Checks)
        {
            var (color, result) = check.Verdict switch
            {
                CheckVerdict.Pass => ("green", "pass"),
                CheckVerdict.Warn => ("yellow", "warn"),
                _ => ("red", "fail"),
            };
            table.AddRow(Markup.Escape(check.Name), $"[{color}]{result}[/]", Markup.Escape(check.Detail), Markup.Escape(check.Remedy ?? ""));
        }
        AnsiConsole.Write(table);
        Console.WriteLine(passed
            ? $"migrate: PID {report.Pid} can migrate to {report.TargetAddress}"
            : $"migrate: PID {report.Pid} cannot migrate to {report.TargetAddress}: {report.Error}");
    }
}
