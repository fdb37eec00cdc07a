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
        if (report.FrozenMs is { } frozen)
        {
            output.WriteLine($"  frozen       {Units.Milliseconds(frozen)}{Breakdown(report.Timeline)}");
        }
        if (report.BytesRaw > 0)
        {
            double ratio = report.BytesOnWire > 0 ? report.BytesRaw / (double)report.BytesOnWire : 0;
            output.WriteLine($"  transferred  {Units.Bytes(report.BytesRaw)} of images, {Units.Bytes(report.BytesOnWire)} on the wire ({ratio:0.0}x)");
        }
        if (report.Source is { } source && report.Target is { } target)
        {
            output.WriteLine($"  hosts        {Host(source)} -> {Host(target)}");
        }
        output.WriteLine($"  total        {Units.Milliseconds(report.TotalMs)}");
    }

    private static string Host(HostSummary host) => $"{host.Hostname} (Linux {host.KernelRelease}, CRIU {host.CriuVersion})";

    private static string Breakdown(MigrationTimeline t)
    {
        if (t is not { FreezeStart: { } freeze, DumpEnd: { } dump, TransferEnd: { } transfer, RestoreEnd: { } restore, Resume: { } resume })
        {
            return "";
        }
        return $"  (dump {Units.Milliseconds(dump - freeze)}, transfer {Units.Milliseconds(transfer - dump)}, " +
               $"restore {Units.Milliseconds(restore - transfer)}, commit and resume {Units.Milliseconds(resume - restore)})";
    }
}
