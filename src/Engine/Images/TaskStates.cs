using Migrate.Engine.Images.Proto;

namespace Migrate.Engine.Images;

/// <summary>The state each dumped task was in, as its core image records it (core-PID.img, tc.task_state).</summary>
public static class TaskStates
{
    // TASK_STOPPED (compel/include/uapi/task-state.h): stopped by a signal when it was dumped.
    private const uint StoppedTask = 3;

    /// <summary>
    /// The tasks that were stopped when they were dumped. CRIU restores them
    /// stopped, and they must stay so when the rest of the tree is resumed.
    /// </summary>
    public static IReadOnlySet<int> Stopped(string imagesDirectory)
    {
        var stopped = new HashSet<int>();
        foreach (int pid in ProcessTreeImage.Pids(imagesDirectory))
        {
            var path = Path.Combine(imagesDirectory, $"core-{pid}.img");
            var reader = ImageReader.Open(ImageFiles.ReadSmall(path), ImageMagic.Core, path);
            if (reader.TryRead(CoreEntry.Parser, out var core) && core.Tc?.TaskState == StoppedTask)
            {
                stopped.Add(pid);
            }
        }
        return stopped;
    }
}
