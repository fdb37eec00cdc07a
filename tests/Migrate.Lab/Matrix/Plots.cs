using System.Globalization;
using Migrate.Lab.Statistics;
using ScottPlot;
using ScottPlot.Plottables;

namespace Migrate.Lab.Matrix;

/// <summary>The matrix's pictures: medians with min–max whiskers, one colour per method.</summary>
internal static class Plots
{
    private static readonly Color[] Palette = [Colors.C0, Colors.C1, Colors.C2, Colors.C3, Colors.C4, Colors.C5, Colors.C6, Colors.C7];

    /// <summary>downtime.png: per cell (size, dirty rate, link) a bar per method, downtime above, total time below.</summary>
    public static void SaveDowntime(string path, IReadOnlyList<CellSummary> cells, IReadOnlyList<MigrationMethod> methods, string title)
    {
        var groups = cells.Select(cell => cell.Cell).Distinct().ToList();
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        Bars(multiplot.GetPlot(0), groups, cells, methods, cell => cell.Downtime, "downtime, ms (heartbeat gap)");
        Bars(multiplot.GetPlot(1), groups, cells, methods, cell => cell.Total, "total time, ms (wall)");
        multiplot.GetPlot(0).Title(title);
        multiplot.SavePng(path, Math.Max(900, 200 + groups.Count * (methods.Count + 1) * 35), 1000);
    }

    /// <summary>frozen-vs-size.png: frozen time against the process's size, a line per method (and per dirty rate and link, when several).</summary>
    public static void SaveFrozenAgainstSize(string path, IReadOnlyList<CellSummary> cells, IReadOnlyList<MigrationMethod> methods, string title)
    {
        var plot = new Plot();
        var conditions = cells.Select(cell => (cell.Cell.RateMiBs, cell.Cell.Link)).Distinct().ToList();
        MarkerShape[] shapes = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond];
        for (int m = 0; m < methods.Count; m++)
        {
            for (int c = 0; c < conditions.Count; c++)
            {
                var points = cells
                    .Where(cell => cell.Method == methods[m] && (cell.Cell.RateMiBs, cell.Cell.Link) == conditions[c] && cell.Frozen is not null)
                    .OrderBy(cell => cell.Cell.SizeMiB)
                    .Select(cell => (Size: (double)cell.Cell.SizeMiB, Frozen: cell.Frozen!))
                    .ToList();
                if (points.Count == 0)
                {
                    continue;
                }
                var color = Palette[m % Palette.Length];
                var line = plot.Add.Scatter(points.Select(p => p.Size).ToArray(), points.Select(p => p.Frozen.Median).ToArray(), color);
                line.MarkerShape = shapes[c % shapes.Length];
                line.MarkerSize = 8;
                line.LinePattern = c == 0 ? LinePattern.Solid : LinePattern.Dashed;
                line.LegendText = conditions.Count == 1
                    ? methods[m].Label
                    : string.Create(CultureInfo.InvariantCulture, $"{methods[m].Label}, {conditions[c].RateMiBs} MiB/s, {conditions[c].Link}");
                Whiskers(plot, points.Select(p => p.Size).ToList(), points.Select(p => p.Frozen).ToList(), color);
            }
        }
        var sizes = cells.Select(cell => cell.Cell.SizeMiB).Distinct().Order().ToArray();
        plot.Axes.Bottom.SetTicks([.. sizes.Select(size => (double)size)], [.. sizes.Select(size => size.ToString(CultureInfo.InvariantCulture))]);
        plot.XLabel("process size, MiB");
        plot.YLabel("frozen, ms (median, min–max)");
        plot.Title(title);
        StartAtZero(plot);
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 900, 600);
    }

    private static void Bars(
        Plot plot, List<Cell> groups, IReadOnlyList<CellSummary> cells, IReadOnlyList<MigrationMethod> methods,
        Func<CellSummary, Summary?> value, string label)
    {
        int width = methods.Count + 1; // a gap between groups
        for (int m = 0; m < methods.Count; m++)
        {
            var positions = new List<double>();
            var summaries = new List<Summary>();
            for (int g = 0; g < groups.Count; g++)
            {
                if (cells.FirstOrDefault(cell => cell.Cell == groups[g] && cell.Method == methods[m]) is { } cell && value(cell) is { } summary)
                {
                    positions.Add(g * width + m);
                    summaries.Add(summary);
                }
            }
            var color = Palette[m % Palette.Length];
            var bars = plot.Add.Bars(positions.Zip(summaries, (x, s) => new Bar { Position = x, Value = s.Median, FillColor = color }).ToList());
            bars.LegendText = methods[m].Label;
            Whiskers(plot, positions, summaries, Colors.Black);
        }
        plot.Axes.Bottom.SetTicks(
            [.. groups.Select((_, g) => g * width + (methods.Count - 1) / 2.0)],
            [.. groups.Select(cell => string.Create(CultureInfo.InvariantCulture, $"{cell.SizeMiB} MiB\n{cell.RateMiBs} MiB/s\n{cell.Link}"))]);
        plot.YLabel(label);
        StartAtZero(plot);
        plot.ShowLegend(Alignment.UpperLeft);
    }

    /// <summary>Times are compared from zero, never from the least of them.</summary>
    private static void StartAtZero(Plot plot)
    {
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsY(0, plot.Axes.GetLimits().Top * 1.05);
    }

    private static void Whiskers(Plot plot, List<double> xs, List<Summary> summaries, Color color)
    {
        double[] none = new double[xs.Count];
        var whiskers = new ErrorBar(
            xs, [.. summaries.Select(s => s.Median)], none, none,
            [.. summaries.Select(s => s.Max - s.Median)], [.. summaries.Select(s => s.Median - s.Min)])
        {
            Color = color,
        };
        plot.Add.Plottable(whiskers);
    }
}
