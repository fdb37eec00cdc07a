using Migrate.Engine.Compat;
using Migrate.Engine.Memory;
using Migrate.Engine.Migration;

namespace Migrate.Source;

/// <summary>The person-readable summary of a <see cref="MigrationReport"/>.</summary>
internal static class ReportPrinter
{
    public static void Print(MigrationReport report, TextWriter output)
    {
        var headline = report.Outcome switch
        {
            MigrationOutcome.Migrated => $"migrated PID {report.Pid} ({report.Command}) to {report.TargetAddress}",
            MigrationOutcome.Refused => $"refused to migrate PID {report.Pid}: {report.Error}",
            MigrationOutcome.RolledBack => $"rolled back the migration of PID {report.Pid}: {report.Error}",
            _ => $"migration of PID {report.Pid} failed: {report.Error}",
        };
        output.WriteLine($"migrate: {headline}");
        output.WriteLine($"  process      {report.ProcessState}");
        if (report.SessionId is not null)
        {
            output.WriteLine($"  session      {report.SessionId}");
        }
        if (report.Precopy is { } precopy)
        {
            var stop = precopy.StopReason is { } reason ? $", {Describe(reason)}" : "";
            output.WriteLine($"  pre-copy     {Describe(precopy.Mode)}, {report.Rounds.Count} rounds{stop} ({precopy.Reason})");
            foreach (var round in report.Rounds)
            {
                output.WriteLine($"               {ProgressDisplay.Describe(round)}");
            }
        }
        if (report.FrozenMs is { } frozen)
        {
            output.WriteLine($"  frozen       {Units.Milliseconds(frozen)}");
        }
        if (report.Final is { } final)
        {
            var f = final.Frozen;
            output.WriteLine($"               dump {Units.Milliseconds(f.DumpMs)}, diff {Units.Milliseconds(f.DiffMs)}, transfer {Units.Milliseconds(f.TransferMs)}, " +
                             $"rebuild {Units.Milliseconds(f.RebuildMs)}, restore {Units.Milliseconds(f.RestoreMs)}, verify {Units.Milliseconds(f.VerifyMs)}, " +
                             $"resume {Units.Milliseconds(f.ResumeMs)}");
            output.WriteLine($"               {final.PagesSent} pages and {Units.Bytes(final.BytesOnWire)} sent while frozen");
        }
        if (report.Restore is { } restore)
        {
            var lastPage = (report.Timeline.LastPage, report.Timeline.Resume) switch
            {
                ({ } last, { } resume) when last > resume => $", last page {Units.Milliseconds(last - resume)} after the resume",
                ({ }, { }) => ", every page in before the resume",
                _ => "",
            };
            output.WriteLine($"  restore      {restore}{lastPage}{(report.RestoreNote is { } note ? $" ({note})" : "")}");
        }
        if (report.BytesRaw > 0)
        {
            double ratio = report.BytesOnWire > 0 ? report.BytesRaw / (double)report.BytesOnWire : 0;
            output.WriteLine($"  transferred  {Units.Bytes(report.BytesRaw)} in all, {Units.Bytes(report.BytesOnWire)} on the wire ({ratio:0.0}x)");
        }
        foreach (var check in report.Checks.Where(check => check.Verdict != CheckVerdict.Pass))
        {
            output.WriteLine($"  check        {check.Name}: {(check.Failed ? "fail" : "warn")}: {check.Detail}{(check.Remedy is { } remedy ? $" ({remedy})" : "")}");
        }
        if (report.Source is { } source && report.Target is { } target)
        {
            output.WriteLine($"  hosts        {Host(source)} -> {Host(target)}");
        }
        output.WriteLine($"  total        {Units.Milliseconds(report.TotalMs)}");
    }

    /// <summary>The names the CLI uses for --precopy.</summary>
    private static string Describe(PrecopyMode mode) => mode switch
    {
        PrecopyMode.ContentHash => "content-hash",
        PrecopyMode.SoftDirty => "soft-dirty",
        PrecopyMode.WriteProtect => "write-protect",
        _ => "off",
    };

    private static string Describe(PrecopyStop stop) => stop switch
    {
        PrecopyStop.Converged => "converged",
        PrecopyStop.MaxRounds => "stopped at --max-rounds",
        PrecopyStop.NotConverging => "not converging",
        _ => "off",
    };

    private static string Host(HostSummary host) => $"{host.Hostname} (Linux {host.KernelRelease}, CRIU {host.CriuVersion})";
}
