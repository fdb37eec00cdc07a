using Migrate.Engine.Images.Proto;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Images;

/// <summary>The namespaces CRIU creates for a restored tree (the CLONE_NEW* flags, linux/sched.h).</summary>
[Flags]
public enum TreeNamespaces
{
    None = 0,
    Time = 0x80,
    Mount = 0x20000,
    Uts = 0x4000000,
    Ipc = 0x8000000,
    User = 0x10000000,
    Pid = 0x20000000,
    Net = 0x40000000,
}

/// <summary>One thread's credentials, as its core image states them.</summary>
public sealed record ThreadIdentity(int Pid, int Tid, CredsEntry Creds);

/// <summary>
/// Who a tree's images ask CRIU to make, read the way CRIU's restore reads
/// them (criu/cr-restore.c, criu/pstree.c): the credentials of every thread
/// of every live task (thread_core.creds in core-TID.img), the namespaces CRIU
/// creates for the tree (each task's ids-PID.img against its parent's, the
/// root's against the inventory's root_ids), and, with a user namespace, its
/// id maps (userns-ID.img). Zombies are left out: CRIU makes them exit at once.
/// Anything CRIU would fill in from elsewhere is refused instead.
/// </summary>
public sealed record TreeIdentity(IReadOnlyList<ThreadIdentity> Threads, TreeNamespaces Namespaces, UsernsEntry? UserNamespace)
{
    public static TreeIdentity Read(string imagesDirectory)
    {
        var tasks = ProcessTreeImage.Read(imagesDirectory);
        var root = tasks.FirstOrDefault(task => task.Ppid == 0) ??
            throw new InvalidDataException($"{Path.Combine(imagesDirectory, ProcessTreeImage.FileName)}: no root task");
        var inventory = ReadOne(imagesDirectory, "inventory.img", ImageMagic.Inventory, InventoryEntry.Parser);
        if (inventory.RootIds is null)
        {
            ThrowHelper.InvalidData(Path.Combine(imagesDirectory, "inventory.img"), 0, "no root_ids: which namespaces the tree has cannot be told");
        }
        var ids = new Dictionary<uint, TaskKobjIdsEntry>();
        var namespaces = TreeNamespaces.None;
        var threads = new List<ThreadIdentity>();
        foreach (var task in tasks)
        {
            // pstree.img lists parents before children (criu/pstree.c reads it so).
            var parentIds = task.Ppid == 0 ? inventory.RootIds : ids.GetValueOrDefault(task.Ppid);
            if (TryReadOne(imagesDirectory, $"ids-{task.Pid}.img", ImageMagic.Ids, TaskKobjIdsEntry.Parser) is { } own)
            {
                ids[task.Pid] = own;
                namespaces |= parentIds is null ? TreeNamespaces.None : Differences(own, parentIds);
            }
            else if (task.Ppid == 0)
            {
                ThrowHelper.InvalidData(Path.Combine(imagesDirectory, $"ids-{task.Pid}.img"), 0, "the root task has no ids image");
            }
            else if (parentIds is not null)
            {
                ids[task.Pid] = parentIds;
            }
            threads.AddRange(ReadThreads(imagesDirectory, task));
        }
        UsernsEntry? userns = null;
        if (namespaces.HasFlag(TreeNamespaces.User))
        {
            uint id = ids[root.Pid].UserNsId;
            userns = ReadOne(imagesDirectory, $"userns-{id}.img", ImageMagic.Userns, UsernsEntry.Parser);
        }
        return new TreeIdentity(threads, namespaces, userns);
    }

    private static IEnumerable<ThreadIdentity> ReadThreads(string imagesDirectory, PstreeEntry task)
    {
        int pid = Id(task.Pid, imagesDirectory);
        var leader = ReadCore(imagesDirectory, pid);
        if (leader.Tc?.TaskState == TaskStates.Zombie)
        {
            yield break;
        }
        foreach (uint tid in task.Threads.Append(task.Pid).Distinct())
        {
            var core = tid == task.Pid ? leader : ReadCore(imagesDirectory, Id(tid, imagesDirectory));
            // Without them CRIU would leave the thread with its own credentials, root's, or read
            // them from creds-PID.img, a format no CRIU since 1.x writes (cr-restore.c, rst_prep_creds).
            var creds = core.ThreadCore?.Creds ??
                throw new InvalidDataException($"{Path.Combine(imagesDirectory, $"core-{tid}.img")}: no thread credentials (thread_core.creds)");
            yield return new ThreadIdentity(pid, (int)tid, creds);
        }
    }

    private static CoreEntry ReadCore(string imagesDirectory, int tid) =>
        ReadOne(imagesDirectory, $"core-{tid}.img", ImageMagic.Core, CoreEntry.Parser);

    // criu/pstree.c, get_clone_mask; cgroup namespaces are not created from ids.
    private static TreeNamespaces Differences(TaskKobjIdsEntry task, TaskKobjIdsEntry parent)
    {
        var differ = TreeNamespaces.None;
        void Compare(uint own, uint theirs, TreeNamespaces flag) => differ |= own == theirs ? TreeNamespaces.None : flag;
        Compare(task.PidNsId, parent.PidNsId, TreeNamespaces.Pid);
        Compare(task.NetNsId, parent.NetNsId, TreeNamespaces.Net);
        Compare(task.IpcNsId, parent.IpcNsId, TreeNamespaces.Ipc);
        Compare(task.UtsNsId, parent.UtsNsId, TreeNamespaces.Uts);
        Compare(task.TimeNsId, parent.TimeNsId, TreeNamespaces.Time);
        Compare(task.MntNsId, parent.MntNsId, TreeNamespaces.Mount);
        Compare(task.UserNsId, parent.UserNsId, TreeNamespaces.User);
        return differ;
    }

    private static int Id(uint id, string imagesDirectory) => id is > 0 and <= int.MaxValue
        ? (int)id
        : throw new InvalidDataException($"{Path.Combine(imagesDirectory, ProcessTreeImage.FileName)}: {id} is not a PID");

    private static T ReadOne<T>(string imagesDirectory, string name, uint magic, Google.Protobuf.MessageParser<T> parser)
        where T : class, Google.Protobuf.IMessage<T> =>
        TryReadOne(imagesDirectory, name, magic, parser) ??
        throw new InvalidDataException($"{Path.Combine(imagesDirectory, name)}: missing or empty");

    private static T? TryReadOne<T>(string imagesDirectory, string name, uint magic, Google.Protobuf.MessageParser<T> parser)
        where T : class, Google.Protobuf.IMessage<T>
    {
        var path = Path.Combine(imagesDirectory, name);
        if (!File.Exists(path))
        {
            return null;
        }
        var reader = ImageReader.Open(ImageFiles.ReadSmall(path), magic, path);
        return reader.TryRead(parser, out var entry) ? entry : null;
    }
}
