using Migrate.Engine.Images.Proto;

namespace Migrate.Engine.Images;

/// <summary>Tasks of a dump in a state that outlives the restore.</summary>
/// <param name="Stopped">Stopped by a signal: CRIU restores them stopped, and they must stay so when the rest of the tree is resumed.</param>
/// <param name="Zombies">Zombies: restored as zombies, never stopped, never run.</param>
public sealed record DumpedTaskStates(IReadOnlySet<int> Stopped, IReadOnlySet<int> Zombies)
{
    public static readonly DumpedTaskStates None = new(new HashSet<int>(), new HashSet<int>());
}

/// <summary>The state each dumped task was in, as its core image records it (core-PID.img, tc.task_state).</summary>
public static class TaskStates
{
    // compel/include/uapi/task-state.h.
    /// <summary>A zombie: dumped with its exit state only, no memory (no mm, pagemap or pages images).</summary>
    public const uint Zombie = 2;

    /// <summary>Stopped by a signal when it was dumped.</summary>
    public const uint Stopped = 3;

    /// <summary>The tasks that were stopped or zombies when they were dumped.</summary>
    public static DumpedTaskStates Read(string imagesDirectory)
    {
        var states = ProcessTreeImage.Pids(imagesDirectory).Select(pid => (Pid: pid, State: StateOf(imagesDirectory, pid))).ToList();
        return new DumpedTaskStates(
            states.Where(task => task.State == Stopped).Select(task => task.Pid).ToHashSet(),
            states.Where(task => task.State == Zombie).Select(task => task.Pid).ToHashSet());
    }

    /// <summary>The tasks of the tree that have memory: all but its zombies.</summary>
    public static IReadOnlyList<int> WithMemory(string imagesDirectory) =>
        ProcessTreeImage.Pids(imagesDirectory).Where(pid => StateOf(imagesDirectory, pid) != Zombie).ToList();

    private static uint? StateOf(string imagesDirectory, int pid)
    {
        var path = Path.Combine(imagesDirectory, $"core-{pid}.img");
        var reader = ImageReader.Open(ImageFiles.ReadSmall(path), ImageMagic.Core, path);
        return reader.TryRead(CoreEntry.Parser, out var core) ? core.Tc?.TaskState : null;
    }
}
