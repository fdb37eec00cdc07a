using System.Diagnostics;
using System.Globalization;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Matrix;

/// <summary>bin/migrate run on A with <see cref="Options"/>, into B's agent across the link.</summary>
internal sealed class MigrateCli(params string[] options) : IMover
{
    /// <summary>What this method adds to migrate's command line (such as --precopy off).</summary>
    public IReadOnlyList<string> Options { get; } = options;

    public IReadOnlyList<string> Packages => [];

    public async Task<Move> MoveAsync(MoveRequest request, CancellationToken cancellationToken)
    {
        var lab = request.Lab;
        var reportPath = Path.Combine(request.RunDirectory, "report.json");
        string[] command =
        [
            Repository.Migrate, "--to", $"{lab.AddressOfB}:{LabHosts.AgentPort}", "--token-file", lab.TokenFile,
            "--work-dir", Path.Combine(lab.WorkDirectory, "src"), "--report", reportPath, "--quiet", .. Options,
            request.Source.Pid.ToString(CultureInfo.InvariantCulture),
        ];
        var clock = Stopwatch.StartNew();
        ProcessOutcome migrate;
        try
        {
            migrate = await lab.RunAsync("a", command, request.Timeout, cancellationToken);
        }
        catch (TimeoutException e)
        {
            // Killing migrate ends its CRIU's socket: CRIU resumes the process on A.
            Log.Warning(e.Message);
            return new Move { Failure = "migrate-timeout" };
        }
        double totalMs = clock.Elapsed.TotalMilliseconds;
        await File.WriteAllTextAsync(Path.Combine(request.RunDirectory, "migrate.out"), migrate.Stdout + migrate.Stderr, cancellationToken);

        if (!File.Exists(reportPath))
        {
            // migrate writes its report on every outcome but a usage error (README, "Exit codes").
            throw new LabException($"migrate exited {migrate.ExitCode} without a report: {migrate.Tail()}");
        }
        var report = ReportFile.Read(reportPath);
        var move = new Move
        {
            TotalMs = totalMs,
            FrozenMs = report.FrozenMs,
            Bytes = report.BytesOnWire,
            Parts = report.Final is { } final ? FreezeParts.From(final.Frozen) : null,
            Report = report,
        };
        if (!migrate.Succeeded)
        {
            return move with { Failure = $"migrate-exit-{migrate.ExitCode}" };
        }
        ReportFile.RequireMigrated(report, reportPath);
        return move with { RestoredPid = report.RestoredPid };
    }
}
