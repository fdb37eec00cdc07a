using Migrate.Engine.Images.Proto;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Images;

/// <summary>pstree.img: the dumped tasks, their parents and threads.</summary>
public static class ProcessTreeImage
{
    public const string FileName = "pstree.img";

    public static IReadOnlyList<PstreeEntry> Read(string imagesDirectory)
    {
        var path = Path.Combine(imagesDirectory, FileName);
        var reader = ImageReader.Open(ImageFiles.ReadSmall(path), ImageMagic.Pstree, path);
        var entries = reader.ReadAll(PstreeEntry.Parser);
        if (entries.Count == 0)
        {
            ThrowHelper.InvalidData(path, 0, "no task in the process tree");
        }
        return entries;
    }

    /// <summary>The PIDs of every task, root first, as CRIU recorded them.</summary>
    public static IReadOnlyList<int> Pids(string imagesDirectory) =>
        Read(imagesDirectory).Select(entry => entry.Pid is > 0 and <= int.MaxValue
            ? (int)entry.Pid
            : throw new InvalidDataException($"{Path.Combine(imagesDirectory, FileName)}: {entry.Pid} is not a PID")).ToList();
}
