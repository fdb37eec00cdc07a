using System.Globalization;

namespace Migrate.Lab.Statistics;

/// <summary>The median, least and greatest of some measurements.</summary>
internal sealed record Summary(double Median, double Min, double Max, int Count)
{
    /// <summary>The summary of the values given, or null when there are none.</summary>
    public static Summary? Of(IEnumerable<double?> values)
    {
        var sorted = values.OfType<double>().Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }
        int middle = sorted.Length / 2;
        double median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return new Summary(median, sorted[0], sorted[^1], sorted.Length);
    }

    /// <summary>"median (min–max)", or the median alone when min and max print the same; <paramref name="format"/> for each number.</summary>
    public string ToText(string format)
    {
        string median = Median.ToString(format, CultureInfo.InvariantCulture);
        string min = Min.ToString(format, CultureInfo.InvariantCulture);
        string max = Max.ToString(format, CultureInfo.InvariantCulture);
        return min == max ? median : $"{median} ({min}–{max})";
    }

    /// <summary><see cref="ToText"/> of a summary that may be missing: "–" then.</summary>
    public static string Text(Summary? summary, string format = "F1") => summary?.ToText(format) ?? "–";
}
