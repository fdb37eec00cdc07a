using System.Diagnostics;
using System.Globalization;
using Migrate.Engine.Migration;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Bench;

/// <summary>What the floor measures: idle processes of <paramref name="SizeMiB"/> moved by migrate, of <paramref name="ByHandMiB"/> by CRIU by hand.</summary>
internal sealed record FloorPlan(int SizeMiB, int ByHandMiB, int Runs);

/// <summary>One dump and restore by CRIU by hand: each criu command's wall time, as a user's script would see it.</summary>
internal sealed record ByHandRun(double DumpMs, double RestoreMs)
{
    public double FrozenMs => DumpMs + RestoreMs;
}

/// <summary>
/// The downtime floor (issue 13): heapfill SIZE heap, filled once and then
/// idle, moved with migrate's default options into a loopback target agent;
/// and, in the same run and alternating with it, heapfill BYHAND heap dumped
/// and restored by CRIU by hand with its images on tmpfs: <c>criu dump
/// --leave-stopped</c> into /dev/shm, SIGKILL to the stopped source, <c>criu
/// restore -d --leave-stopped</c> under the freed PID, the restored copy
/// ended. By hand, frozen is the dump plus the restore.
/// </summary>
internal sealed class FloorRunner(FloorPlan plan, LocalTarget target, string directory, string heapfill)
{
    /// <summary>A tmpfs: the images never touch a disk.</summary>
    private const string ByHandImages = "/dev/shm";

    private static readonly TimeSpan CriuTimeout = TimeSpan.FromSeconds(120);

    private readonly VerifiedMigrations _migrations = new(target, directory, plan.SizeMiB);

    public int Failures => _migrations.Failures;

    public List<MigrationReport> Migrations { get; } = [];

    public List<ByHandRun> ByHand { get; } = [];

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        // First-use costs (the agent's, CRIU's first kernel probe) are not the floor.
        if (await _migrations.RunAsync("warmup", heapfill, [16, "heap"], [], cancellationToken) is null)
        {
            throw new LabException("the warm-up migration failed");
        }
        await ByHandAsync("warmup-byhand", cancellationToken);
        for (int run = 1; run <= plan.Runs; run++)
        {
            if (await _migrations.RunAsync($"idle-{run}", heapfill, [plan.SizeMiB, "heap"], [], cancellationToken) is { } report)
            {
                Migrations.Add(report);
                var frozen = report.Final!.Frozen;
                Log.Info(string.Create(CultureInfo.InvariantCulture,
                    $"  migrate {plan.SizeMiB} MiB, run {run}: frozen {report.FrozenMs:F0} ms (dump {frozen.DumpMs:F0}, transfer {frozen.TransferMs:F0}, restore {frozen.RestoreMs:F0}, resume {frozen.ResumeMs:F0})"));
            }
            var byHand = await ByHandAsync($"byhand-{run}", cancellationToken);
            ByHand.Add(byHand);
            Log.Info(string.Create(CultureInfo.InvariantCulture,
                $"  criu by hand {plan.ByHandMiB} MiB, run {run}: {byHand.FrozenMs:F0} ms (dump {byHand.DumpMs:F0}, restore {byHand.RestoreMs:F0})"));
        }
    }

    private async Task<ByHandRun> ByHandAsync(string name, CancellationToken cancellationToken)
    {
        var images = Directory.CreateDirectory(Path.Combine(ByHandImages, $"migrate-floor-{Guid.NewGuid():N}")).FullName;
        var work = Directory.CreateDirectory(Path.Combine(directory, name)).FullName;
        OwnedProcess? restored = null;
        try
        {
            int pid;
            double dumpMs;
            using (var workload = await BenchWorkload.StartAsync(name, heapfill, directory, [plan.ByHandMiB, "heap"], CriuTimeout, cancellationToken))
            {
                pid = workload.Pid;
                dumpMs = await CriuAsync(name, ["dump", "-t", pid.ToString(CultureInfo.InvariantCulture), "-D", images, "-W", work, "-o", "dump.log", "--leave-stopped"],
                    cancellationToken);
            } // killed and collected here: the restore needs its PID
            double restoreMs = await CriuAsync(name, ["restore", "-D", images, "-W", work, "-o", "restore.log", "-d", "--leave-stopped"], cancellationToken);
            restored = OwnedProcess.Find(pid) ?? throw new LabException($"{name}: criu restore -d left no process with PID {pid}");
            return new ByHandRun(dumpMs, restoreMs);
        }
        finally
        {
            await (restored?.EndAsync() ?? Task.CompletedTask);
            Directory.Delete(images, recursive: true);
        }
    }

    /// <summary>Runs criu to its end; its wall time in milliseconds.</summary>
    private static async Task<double> CriuAsync(string name, string[] arguments, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var criu = await ChildProcess.RunAsync(Repository.Criu, arguments, CriuTimeout, cancellationToken);
        double ms = clock.Elapsed.TotalMilliseconds;
        return criu.Succeeded ? ms : throw new LabException($"{name}: criu {arguments[0]} failed: {criu.Tail()}");
    }
}
