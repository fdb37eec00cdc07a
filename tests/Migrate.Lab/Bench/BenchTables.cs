using System.Globalization;
using System.Text;
using Migrate.Lab.Infrastructure;
using Migrate.Lab.Matrix;
using Migrate.Lab.Statistics;

namespace Migrate.Lab.Bench;

/// <summary>The benchmark's Markdown: round-1 throughput per workload, then the methods side by side.</summary>
internal static class BenchTables
{
    public static string Render(BenchPlan plan, BenchRunner runner)
    {
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');
        string Row(IEnumerable<string> cells) => $"| {string.Join(" | ", cells)} |";

        Line(string.Create(CultureInfo.InvariantCulture,
            $"## Pre-copy round 1 (--precopy {BenchRunner.ThroughputPrecopy}), {plan.SizeMiB} MiB, loopback (median (min–max) of {plan.Runs} runs; MB = 10^6 bytes)"));
        Line();
        Line("| workload | raw MB/s | wire MB/s | LZ4 ratio | round 1 ms | runs |");
        Line("|---|---:|---:|---:|---:|---:|");
        foreach (var (kind, label) in new[]
                 {
                     ("heap", "heap-like (heapfill heap)"), ("random", "random (heapfill random)"),
                     ("dirtier", string.Create(CultureInfo.InvariantCulture, $"random, busy (dirtier {plan.SizeMiB} 0 0)")),
                 })
        {
            var runs = runner.Throughput.Where(run => run.Kind == kind).ToList();
            Line(Row([label, Summary.Text(Summary.Of(runs.Select(r => (double?)r.RawMBps)), "F0"),
                Summary.Text(Summary.Of(runs.Select(r => (double?)r.WireMBps)), "F0"),
                Summary.Text(Summary.Of(runs.Select(r => (double?)r.Ratio)), "F2"),
                Summary.Text(Summary.Of(runs.Select(r => (double?)r.DurationMs)), "F0"),
                runs.Count.ToString(CultureInfo.InvariantCulture)]));
        }

        Line();
        Line(string.Create(CultureInfo.InvariantCulture,
            $"## {plan.SizeMiB} MiB dirtier, {plan.HotMiB} MiB hot set rewritten as fast as it can (median (min–max) of {plan.Runs} runs)"));
        Line();
        var columns = plan.Methods.Select(method => (method, runs: runner.Freezes.Where(run => run.Method == method).ToList())).ToList();
        Line(Row(["", .. columns.Select(c => c.method.Label)]));
        Line($"|---|{string.Concat(columns.Select(_ => "---:|"))}");
        void Measure(string name, Func<FreezeRun, double?> value, string format = "F0") =>
            Line(Row([name, .. columns.Select(c => Summary.Text(Summary.Of(c.runs.Select(value)), format))]));
        void Count(string name, Func<FreezeRun, string> value) =>
            Line(Row([name, .. columns.Select(c => string.Join(", ", c.runs.GroupBy(value).Select(g => $"{g.Key} x{g.Count()}")))]));

        Count("pre-copy", run => ReportFile.JsonName(run.Report.Precopy!.Mode));
        Measure("frozenMs", run => run.Report.FrozenMs);
        Measure("final.bytesOnWire, MiB", run => run.Report.Final!.BytesOnWire / 1048576.0, "F1");
        Measure("final.pagesSent", run => run.Report.Final!.PagesSent);
        Measure("rounds", run => run.Report.Rounds.Count);
        Count("stop reason", run => ReportFile.JsonName(run.Report.Precopy!.StopReason!.Value));
        Count(string.Create(CultureInfo.InvariantCulture, $"frozen bytes <= 2 x hot ({2 * plan.HotMiB} MiB)"), run => run.WithinTwiceHot ? "yes" : "no");
        foreach (var (_, title, part) in FreezeParts.Columns)
        {
            Measure($"frozen: {title} ms", run => part(FreezeParts.From(run.Report.Final!.Frozen)));
        }
        Line(Row(["runs", .. columns.Select(c => c.runs.Count.ToString(CultureInfo.InvariantCulture))]));

        Line();
        Line($"load average at the end: {ProcFs.LoadAverages()}");
        return text.ToString();
    }
}
