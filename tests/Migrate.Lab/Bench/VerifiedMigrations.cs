using System.Globalization;
using Migrate.Engine.Migration;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Bench;

/// <summary>
/// Migrations on loopback into one target agent, each of a fresh workload,
/// verified on the target (a pass done wholly there, passes &gt;= P0 + 2, with
/// verify=ok) and ended there. Failures are logged and counted.
/// </summary>
/// <param name="sizeMiB">The workloads' size, for the timeouts.</param>
internal sealed class VerifiedMigrations(LocalTarget target, string directory, int sizeMiB)
{
    private int _failures;

    public int Failures => _failures;

    private TimeSpan WorkloadTimeout => TimeSpan.FromSeconds(180 + sizeMiB / 4.0);

    /// <summary>Starts a fresh workload, migrates it, verifies it on the target and ends it there; null (counted) if that failed.</summary>
    public async Task<MigrationReport?> RunAsync(
        string name, string binary, object[] arguments, IReadOnlyList<string> options, CancellationToken cancellationToken)
    {
        using var workload = await BenchWorkload.StartAsync(name, binary, directory, arguments, WorkloadTimeout, cancellationToken);
        var reportPath = Path.Combine(directory, name + ".json");
        ProcessOutcome migrate;
        try
        {
            migrate = await ChildProcess.RunAsync(Repository.Migrate,
                ["--to", $"127.0.0.1:{target.Port}", "--token-file", target.TokenFile, "--work-dir", Path.Combine(directory, "source"),
                 .. options, "--report", reportPath, "--quiet", workload.Pid.ToString(CultureInfo.InvariantCulture)],
                TimeSpan.FromSeconds(300 + sizeMiB / 4.0), cancellationToken);
        }
        catch (TimeoutException e)
        {
            return Failed(name, e.Message);
        }
        await File.WriteAllTextAsync(Path.Combine(directory, name + ".log"), migrate.Stdout + migrate.Stderr, cancellationToken);
        if (!File.Exists(reportPath))
        {
            throw new LabException($"{name}: migrate exited {migrate.ExitCode} without a report: {migrate.Tail()}");
        }
        var report = ReportFile.Read(reportPath);
        if (!migrate.Succeeded)
        {
            if (!target.IsAlive)
            {
                throw new LabException($"the target agent is gone (log: {directory}/target.log)");
            }
            return Failed(name, $"migrate exited {migrate.ExitCode}: {migrate.Tail(20)}");
        }
        ReportFile.RequireMigrated(report, reportPath);
        if (!await workload.EndedAsync(TimeSpan.FromSeconds(10), cancellationToken))
        {
            throw new LabException($"{name}: the source copy of PID {workload.Pid} still runs after the migration");
        }

        var moved = target.Find(report.RestoredPid!.Value)
            ?? throw new LabException($"{name}: the migrated process is not in the agent's namespace");
        try
        {
            long passes = workload.Status.Require("passes");
            if (!await Poll.UntilAsync(() => workload.Status.HasPasses(passes + 2), WorkloadTimeout, cancellationToken))
            {
                return Failed(name, $"no full verification pass on the target within {WorkloadTimeout.TotalSeconds:F0} s: {workload.Status.Describe()}");
            }
            if (workload.Status.Verdict() != "ok")
            {
                return Failed(name, $"bad page after the migration: {workload.Status.Describe()}");
            }
            return report;
        }
        finally
        {
            await moved.EndAsync();
        }
    }

    private MigrationReport? Failed(string name, string why)
    {
        Log.Warning($"{name}: {why}");
        _failures++;
        return null;
    }
}
