using System.Globalization;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Matrix;

/// <summary>
/// Runs the matrix in a lab: per run, a fresh dirtier on A, moved to B by one
/// method, verified on B, then ended.
/// </summary>
internal sealed class MatrixRunner(MatrixPlan plan, LabHosts lab, string dirtier, ResultsCsv csv)
{
    public async Task<IReadOnlyList<RunRecord>> RunAsync(CancellationToken cancellationToken)
    {
        var records = new List<RunRecord>();
        string? link = null;
        foreach (var (cell, run, method) in plan.Interleaved())
        {
            if (cell.Link != link)
            {
                link = cell.Link;
                await lab.SetRateAsync(link, cancellationToken);
                Log.Info($"migration link: {link}");
            }
            var record = await RunOneAsync(cell, run, method, cancellationToken);
            csv.Append(record);
            records.Add(record);
            Log.Info(string.Create(CultureInfo.InvariantCulture,
                $"{method.Name,-9} {cell.SizeMiB,5} MiB rate {cell.RateMiBs,3} link {cell.Link,-7} run {run}: downtime {Ms(record.DowntimeMs)} ms, frozen {Ms(record.Move.FrozenMs)} ms, total {Ms(record.Move.TotalMs)} ms, {record.Verified}"));
        }
        return records;
    }

    /// <summary>
    /// Starts the dirtier, waits for 2 verification passes, moves it, finds the
    /// copy on B, waits for 2 more passes there (the second done wholly after
    /// the resume: tests/workloads/README.md), requires verify=ok, reads the
    /// gap, and ends what it started whatever happened.
    /// </summary>
    private async Task<RunRecord> RunOneAsync(Cell cell, int run, MigrationMethod method, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(plan.OutputDirectory, "runs", $"{cell.Link}-{cell.SizeMiB}-{cell.RateMiBs}-{run}-{method.Name}");
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
        Directory.CreateDirectory(directory);
        var status = new StatusFile(Path.Combine(directory, "status"));
        var record = new RunRecord(method, cell, run, ProcFs.Load1());
        var owned = new OwnedProcesses();
        try
        {
            var source = owned.Add(await lab.SpawnAsync("a", [dirtier, status.Path, .. Arguments(cell.SizeMiB, cell.HotMiB, cell.RateArgument)], cancellationToken));
            if (!await Poll.UntilAsync(() => status.HasPasses(2), cell.WorkloadTimeout, cancellationToken))
            {
                return record with { Verified = "workload-did-not-start" };
            }
            long gapBefore = status.Require("max_gap_us");

            var move = await method.Mover.MoveAsync(new MoveRequest(lab, source, directory, cell.MoveTimeout, owned), cancellationToken);
            record = record with { Move = move };
            if (move.Failure is { } failure)
            {
                return record with { Verified = failure };
            }
            int restored = move.RestoredPid ?? throw new LabException($"{method.Name} moved the process but did not say its PID on B");
            var onB = await lab.FindOnBAsync(restored, cancellationToken);
            if (onB is null)
            {
                return record with { Verified = "not-found-on-b" };
            }
            owned.Add(onB);

            long passes = status.Require("passes");
            string verified = await Poll.UntilAsync(() => status.HasPasses(passes + 2), cell.WorkloadTimeout, cancellationToken)
                ? status.Verdict()
                : "no-pass-after-resume";
            long gap = status.Require("max_gap_us");
            // The freeze must be the longest gap of the workload's life; if not, the gap measured something else.
            if (gap <= gapBefore)
            {
                verified += ";gap-not-new";
            }
            return record with { DowntimeMs = gap / 1000.0, Verified = verified };
        }
        finally
        {
            // The source after a failure, the copy on B, a receiver.
            await owned.EndAllAsync();
        }
    }

    private static string[] Arguments(params int[] numbers) => [.. numbers.Select(n => n.ToString(CultureInfo.InvariantCulture))];

    private static string Ms(double? value) => value?.ToString("F1", CultureInfo.InvariantCulture) ?? "-";
}
