using System.Globalization;
using System.Text;
using Migrate.Lab.Statistics;

namespace Migrate.Lab.Matrix;

/// <summary>Where and when a matrix ran, for the head of results.md.</summary>
internal sealed record MatrixContext(
    string Started, string Machine, string CommandLine, int Runs, int Failures, TimeSpan Elapsed, string LoadBefore, string LoadAfter);

/// <summary>results.md: the medians with min–max per cell and method, the frozen time against size, and where the freeze went.</summary>
internal static class ResultsMarkdown
{
    public static string Render(MatrixContext context, IReadOnlyList<CellSummary> cells, IReadOnlyList<MigrationMethod> methods)
    {
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');

        Line($"Downtime matrix, {context.Started}, {context.Machine}.");
        Line();
        Line(string.Create(CultureInfo.InvariantCulture,
            $"Command: `{context.CommandLine}` ({context.Runs} runs in {(int)context.Elapsed.TotalMinutes} min {context.Elapsed.Seconds} s; load average before {context.LoadBefore}, after {context.LoadAfter})."));
        Line();
        Line("Median (min–max) over the runs that verified. Downtime: the workload's longest 1 ms-heartbeat gap (CLOCK_REALTIME). " +
             "Frozen: migrate's frozenMs; by hand, dump start to restore return. Total: the whole move's wall time. " +
             "Hot set = size/8 rewritten at the dirty rate (rate 0: no writes).");
        Line();
        Line("![downtime and total time per method](downtime.png)");
        Line();
        Line("| size MiB | dirty MiB/s | link | method | downtime ms | frozen ms | total ms | MiB on the link | verified |");
        Line("|---:|---:|---|---|---:|---:|---:|---:|---:|");
        foreach (var cell in cells)
        {
            Line(string.Create(CultureInfo.InvariantCulture,
                $"| {cell.Cell.SizeMiB} | {cell.Cell.RateMiBs} | {cell.Cell.Link} | {cell.Method.Label} | {Summary.Text(cell.Downtime)} | {Summary.Text(cell.Frozen)} | {Summary.Text(cell.Total)} | {cell.MiBOnTheLink?.Median.ToString("F1", CultureInfo.InvariantCulture) ?? "–"} | {cell.Verified}/{cell.Runs} |"));
        }

        Line();
        Line("## Frozen time against process size");
        Line();
        Line("frozen ms, median (min–max) per method.");
        Line();
        Line("![frozen time against process size](frozen-vs-size.png)");
        Line();
        Line($"| dirty MiB/s | link | size MiB | {string.Join(" | ", methods.Select(method => method.Label))} |");
        Line($"|---:|---|---:|{string.Concat(methods.Select(_ => "---:|"))}");
        foreach (var row in cells.GroupBy(cell => (cell.Cell.RateMiBs, cell.Cell.Link, cell.Cell.SizeMiB))
                     .OrderBy(row => row.Key.Link, StringComparer.Ordinal).ThenBy(row => row.Key.RateMiBs).ThenBy(row => row.Key.SizeMiB))
        {
            var frozen = methods.Select(method => Summary.Text(row.FirstOrDefault(cell => cell.Method == method)?.Frozen));
            Line(string.Create(CultureInfo.InvariantCulture,
                $"| {row.Key.RateMiBs} | {row.Key.Link} | {row.Key.SizeMiB} | {string.Join(" | ", frozen)} |"));
        }

        Line();
        Line("## Where the freeze went");
        Line();
        Line("Medians in ms. migrate: the report's `final.frozen`, whose parts add up to frozenMs; " +
             "by hand: its dump, its copy (under transfer) and its restore.");
        Line();
        Line($"| size MiB | dirty MiB/s | link | method | {string.Join(" | ", FreezeParts.Columns.Select(part => part.Title))} |");
        Line($"|---:|---:|---|---|{string.Concat(FreezeParts.Columns.Select(_ => "---:|"))}");
        foreach (var cell in cells)
        {
            var parts = cell.Parts.Select(part => part?.Median.ToString("F1", CultureInfo.InvariantCulture) ?? "–");
            Line(string.Create(CultureInfo.InvariantCulture,
                $"| {cell.Cell.SizeMiB} | {cell.Cell.RateMiBs} | {cell.Cell.Link} | {cell.Method.Label} | {string.Join(" | ", parts)} |"));
        }

        Line();
        Line(string.Create(CultureInfo.InvariantCulture, $"{context.Failures} of {context.Runs} runs failed to migrate or verify."));
        return text.ToString();
    }
}
