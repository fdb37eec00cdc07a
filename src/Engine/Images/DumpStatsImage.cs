using Migrate.Engine.Images.Proto;

namespace Migrate.Engine.Images;

/// <summary>stats-dump: what CRIU's dump or pre-dump scanned and wrote.</summary>
public static class DumpStatsImage
{
    public const string FileName = "stats-dump";

    /// <param name="workDirectory">CRIU's work directory, where it writes service files.</param>
    public static DumpStatsEntry Read(string workDirectory)
    {
        var path = Path.Combine(workDirectory, FileName);
        var reader = ImageReader.Open(File.ReadAllBytes(path), ImageMagic.Stats, path);
        return reader.TryRead(StatsEntry.Parser, out var stats) && stats.Dump is { } dump
            ? dump
            : throw new InvalidDataException($"{path}: no dump statistics");
    }
}
