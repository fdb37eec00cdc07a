using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Migrate.Benchmarks;

/// <summary>
/// Throughput in GB/s (10^9 bytes per second) of benchmarks marked with
/// <see cref="BytesPerOperationAttribute"/>. Every benchmark here runs on one
/// thread, so this is GB/s per core. <see cref="Mean"/> uses the mean time of
/// an operation; <see cref="Range"/> the slowest and fastest iterations, to show
/// how noisy a run was.
/// </summary>
public sealed class ThroughputColumn : IColumn
{
    public static readonly IColumn Mean = new ThroughputColumn(range: false);
    public static readonly IColumn Range = new ThroughputColumn(range: true);

    private readonly bool _range;

    private ThroughputColumn(bool range) => _range = range;

    public string Id => _range ? "ThroughputRange" : "Throughput";

    public string ColumnName => _range ? "GB/s min-max" : "GB/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => _range ? 1 : 0;

    public bool IsNumeric => !_range;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => _range
        ? "Throughput of the slowest and the fastest iteration, one core"
        : "Bytes processed per second of mean time, 10^9 bytes/s, one core";

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        if (Measure(summary, benchmarkCase) is not { } throughput)
        {
            return "-";
        }
        return _range
            ? string.Create(CultureInfo.InvariantCulture, $"{throughput.Min:F2}-{throughput.Max:F2}")
            : throughput.Mean.ToString("F2", CultureInfo.InvariantCulture);
    }

    /// <summary>GB/s at the mean, slowest and fastest time per operation; null if the benchmark did not run or moves no bytes.</summary>
    public static (double Mean, double Min, double Max)? Measure(Summary summary, BenchmarkCase benchmarkCase)
    {
        var bytes = benchmarkCase.Descriptor.WorkloadMethod.GetCustomAttribute<BytesPerOperationAttribute>()?.Bytes;
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (bytes is not { } perOperation || statistics is null || statistics.Mean <= 0)
        {
            return null;
        }
        // Times are in nanoseconds per operation, and bytes per nanosecond are GB/s.
        return (perOperation / statistics.Mean, perOperation / statistics.Max, perOperation / statistics.Min);
    }

    public override string ToString() => ColumnName;
}
