using System.Globalization;
using Migrate.Engine.Migration;
using Migrate.Lab.Infrastructure;
using Migrate.Lab.Matrix;

namespace Migrate.Lab.Bench;

/// <summary>What the benchmark measures.</summary>
/// <param name="Methods">Compared in the freeze part; migrate-based methods only (the bench has no lab to script CRIU across).</param>
internal sealed record BenchPlan(int SizeMiB, int HotMiB, int Runs, IReadOnlyList<MigrationMethod> Methods);

/// <summary>Round 1 of a content-hash pre-copy of one workload.</summary>
internal sealed record ThroughputRun(string Kind, double RawMBps, double WireMBps, double Ratio, double DurationMs, int Rounds);

/// <summary>One migration of the hot-set dirtier by one method.</summary>
internal sealed record FreezeRun(MigrationMethod Method, MigrationReport Report, bool WithinTwiceHot);

/// <summary>
/// End-to-end pre-copy numbers on loopback with the real agents and CRIU
/// (what the earlier scripts/bench/precopy.sh measured), in each run:
/// a. round-1 stream throughput of --precopy content-hash (the report's
///    rounds[0]) for heapfill heap (compressible about 3x), heapfill random
///    (incompressible) and dirtier SIZE 0 0 (random too, but its verifier keeps
///    a core busy, as a working process would); heapfill sleeps between
///    checks, so heap and random differ only in their data;
/// b. dirtier SIZE HOT 0 moved by each method: frozenMs, what moved frozen,
///    the rounds and the freeze's parts. Rate 0 (as fast as it can, about
///    1.7 GB/s here) keeps the whole hot set dirty at every moment, so the
///    final diff is the hot set whatever the rounds' timing and the 2 x HOT
///    bound is tested at its worst.
/// Every migration is verified on the target: a pass done wholly there
/// (passes &gt;= P0 + 2) with verify=ok.
/// </summary>
internal sealed class BenchRunner(BenchPlan plan, LocalTarget target, string directory, string heapfill, string dirtier)
{
    public const string ThroughputPrecopy = "content-hash";

    private readonly VerifiedMigrations _migrations = new(target, directory, plan.SizeMiB);

    public int Failures => _migrations.Failures;

    public List<ThroughputRun> Throughput { get; } = [];

    public List<FreezeRun> Freezes { get; } = [];

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        // The agent serves many migrations: a small one first, not counted, so its first-use costs do not land in run 1.
        if (await _migrations.RunAsync("warmup", heapfill, [16, "heap"], ["--precopy", ThroughputPrecopy], cancellationToken) is null)
        {
            throw new LabException("the warm-up migration failed");
        }
        for (int run = 1; run <= plan.Runs; run++)
        {
            foreach (var (kind, binary, arguments) in new (string, string, object[])[]
                     {
                         ("heap", heapfill, [plan.SizeMiB, "heap"]),
                         ("random", heapfill, [plan.SizeMiB, "random"]),
                         ("dirtier", dirtier, [plan.SizeMiB, 0, 0]),
                     })
            {
                if (await _migrations.RunAsync($"{kind}-{run}", binary, arguments, ["--precopy", ThroughputPrecopy], cancellationToken) is not { } report)
                {
                    continue;
                }
                var first = report.Rounds.Count > 0 ? report.Rounds[0] : throw new LabException($"{kind}-{run}: a content-hash migration without rounds");
                var row = new ThroughputRun(kind, first.BytesRaw / first.DurationMs / 1000, first.BytesOnWire / first.DurationMs / 1000,
                    first.BytesRaw / (double)first.BytesOnWire, first.DurationMs, report.Rounds.Count);
                Throughput.Add(row);
                Log.Info(string.Create(CultureInfo.InvariantCulture,
                    $"  {$"{kind}-{run}",-12} round 1: {row.RawMBps,7:F1} MB/s raw, {row.WireMBps,7:F1} MB/s wire, ratio {row.Ratio:F2}, {row.DurationMs:F0} ms"));
            }
            foreach (var method in plan.Methods)
            {
                string name = $"hot-{method.Name}-{run}";
                var options = ((MigrateCli)method.Mover).Options;
                if (await _migrations.RunAsync(name, dirtier, [plan.SizeMiB, plan.HotMiB, 0], options, cancellationToken) is not { } report)
                {
                    continue;
                }
                var final = report.Final!;
                Freezes.Add(new FreezeRun(method, report, final.BytesOnWire <= 2L * plan.HotMiB * 1024 * 1024));
                Log.Info(string.Create(CultureInfo.InvariantCulture,
                    $"  {name,-22} frozen {report.FrozenMs,6:F0} ms, {final.BytesOnWire / 1048576.0,6:F1} MiB in {final.PagesSent,6} pages during the freeze, {report.Rounds.Count} rounds ({ReportFile.JsonName(report.Precopy!.StopReason!.Value)})"));
            }
        }
    }
}
