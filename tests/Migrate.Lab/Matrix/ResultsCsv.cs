using System.Globalization;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Matrix;

/// <summary>
/// results.csv, a row appended as each run ends, so a matrix cut short keeps
/// what it measured. The first 15 columns are those of the earlier
/// scripts/lab/matrix.sh; those after come from the report's precopy and
/// final members (by hand: its own dump, copy as transfer_ms, and restore).
/// Empty means the run or the method has no such number (the verified column
/// says why a run has none); a report lacking one stops the tool instead.
/// </summary>
internal sealed class ResultsCsv(string path)
{
    private static readonly string[] Header =
    [
        "method", "size_mib", "hot_mib", "rate_mibs", "link", "run", "downtime_ms", "frozen_ms", "total_ms", "bytes", "verified",
        "report_total_ms", "rounds", "stop", "load1", "precopy_mode", "final_bytes", .. FreezeParts.Columns.Select(part => part.Column),
    ];

    public string Path { get; } = path;

    public void Create() => File.WriteAllText(Path, string.Join(',', Header) + "\n");

    public void Append(RunRecord record)
    {
        var move = record.Move;
        var report = move.Report;
        string?[] fields =
        [
            record.Method.Name, Number(record.Cell.SizeMiB), Number(record.Cell.HotMiB), Number(record.Cell.RateMiBs), record.Cell.Link,
            Number(record.Run), Ms(record.DowntimeMs), Ms(move.FrozenMs), Ms(move.TotalMs), Number(move.Bytes), record.Verified,
            Ms(report?.TotalMs), Number(report?.Rounds.Count), report?.Precopy?.StopReason is { } stop ? ReportFile.JsonName(stop) : null,
            record.Load1.ToString("F2", CultureInfo.InvariantCulture),
            report?.Precopy is { } precopy ? ReportFile.JsonName(precopy.Mode) : null, Number(report?.Final?.BytesOnWire),
            .. FreezeParts.Columns.Select(part => Ms(move.Parts is { } parts ? part.Value(parts) : null)),
        ];
        File.AppendAllText(Path, string.Join(',', fields.Select(field => field ?? "")) + "\n");
    }

    private static string? Ms(double? value) => value?.ToString("F1", CultureInfo.InvariantCulture);

    private static string? Number(long? value) => value?.ToString(CultureInfo.InvariantCulture);
}
