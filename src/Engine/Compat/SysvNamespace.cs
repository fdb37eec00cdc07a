using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// CRIU dumps SysV shared memory segments only as part of the IPC namespace
/// that holds them, so it refuses a task that has one attached and lives in
/// CRIU's own IPC namespace ("Task N with SysVIPC shmem map @ADDR doesn't live
/// in IPC ns", criu/cr-dump.c). That comes after the freeze; the check refuses
/// before it. Services that use SysV segments (PostgreSQL's, for one) move when
/// they run in an IPC namespace of their own, as containers and units with
/// PrivateIPC= do.
/// </summary>
public static class SysvNamespace
{
    public const string CheckName = "sysv-ipc";

    /// <param name="tree">Each task's maps.</param>
    public static CheckResult Check(int rootPid, IReadOnlyDictionary<int, IReadOnlyList<MemoryArea>> tree) =>
        Compare(tree, ownNamespace: ProcFs.Namespace(rootPid, "ipc") != ProcFs.Namespace(Environment.ProcessId, "ipc"));

    /// <param name="ownNamespace">The tree's root lives in an IPC namespace other than this process's, and CRIU's.</param>
    public static CheckResult Compare(IReadOnlyDictionary<int, IReadOnlyList<MemoryArea>> tree, bool ownNamespace)
    {
        var attached = tree.SelectMany(task => task.Value.Where(area => area.IsSysvSegment).Select(area => (Pid: task.Key, Area: area))).ToList();
        if (attached.Count == 0)
        {
            return Checks.Pass(CheckName, "the tree has no SysV shared memory attached");
        }
        if (ownNamespace)
        {
            return Checks.Pass(CheckName,
                $"{Checks.Count(attached.Select(a => a.Area.Inode).Distinct().Count(), "SysV segment")} attached, in the tree's own IPC namespace: CRIU moves them with the namespace");
        }
        var (pid, area) = attached[0];
        return Checks.Fail(CheckName,
            $"task {pid} has {SharedMemory.Describe(area)} attached and shares this host's IPC namespace: CRIU dumps SysV segments only with an IPC namespace of the tree's own",
            "start the service in an IPC namespace of its own (unshare --ipc, or PrivateIPC=yes in its systemd unit), then migrate it");
    }
}
