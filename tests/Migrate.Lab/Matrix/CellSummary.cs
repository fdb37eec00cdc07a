using Migrate.Lab.Statistics;

namespace Migrate.Lab.Matrix;

/// <summary>One cell and method over its runs: how many verified, and the medians (min–max) of those that did.</summary>
internal sealed record CellSummary(
    Cell Cell, MigrationMethod Method, int Verified, int Runs,
    Summary? Downtime, Summary? Frozen, Summary? Total, Summary? MiBOnTheLink, IReadOnlyList<Summary?> Parts)
{
    /// <summary>
    /// One summary per cell and method, in the order of the runs. A run that
    /// failed counts in <see cref="Runs"/> only: its numbers, if any, measured
    /// something that did not move.
    /// </summary>
    public static IReadOnlyList<CellSummary> Of(IEnumerable<RunRecord> records) =>
        records.GroupBy(record => (record.Cell, record.Method)).Select(group =>
        {
            var verified = group.Where(record => record.Ok).ToList();
            return new CellSummary(
                group.Key.Cell, group.Key.Method, verified.Count, group.Count(),
                Summary.Of(verified.Select(record => record.DowntimeMs)),
                Summary.Of(verified.Select(record => record.Move.FrozenMs)),
                Summary.Of(verified.Select(record => record.Move.TotalMs)),
                Summary.Of(verified.Select(record => record.Move.Bytes / (1024.0 * 1024.0))),
                [.. FreezeParts.Columns.Select(part => Summary.Of(verified.Select(record => record.Move.Parts is { } parts ? part.Value(parts) : null)))]);
        }).ToList();
}
