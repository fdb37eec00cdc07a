using System.Globalization;

namespace Migrate.Source;

internal static class Units
{
    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.00} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.0} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 10):0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };

    public static string Milliseconds(double ms) => string.Create(CultureInfo.InvariantCulture, $"{ms:0.0} ms");

    /// <summary>A rough duration: "8 s", "2 min 5 s".</summary>
    public static string Duration(TimeSpan duration) => duration.TotalSeconds < 60
        ? string.Create(CultureInfo.InvariantCulture, $"{Math.Ceiling(duration.TotalSeconds):0} s")
        : string.Create(CultureInfo.InvariantCulture, $"{(int)duration.TotalMinutes} min {duration.Seconds} s");

    public static string Rate(double bytesPerSecond) => string.Create(CultureInfo.InvariantCulture, $"{bytesPerSecond / 1e6:0} MB/s");
}
