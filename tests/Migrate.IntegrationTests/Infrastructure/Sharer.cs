using System.Globalization;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// tests/workloads/sharer.c: memory shared with its forked child (anonymous
/// shared memory, a tree of two), or with whoever else maps one file.
/// </summary>
internal sealed class Sharer : Workload
{
    private readonly TempDirectory? _userDirectory;
    private readonly bool _segmentOnHost;

    private Sharer(Workloads workloads, string mode, string argument, TempDirectory? userDirectory = null, WorkloadPlacement? placement = null,
        bool segmentOnHost = false)
        : base(workloads, "sharer", directory => [Path.Combine(directory, "status"), mode, argument], placement)
    {
        _userDirectory = userDirectory;
        _segmentOnHost = segmentOnHost;
    }

    /// <summary>Maps <paramref name="sizeMiB"/> of anonymous shared memory and forks a child that writes to it.</summary>
    /// <param name="user">Runs both as this user and group ID.</param>
    public static Task<Sharer> ForkAsync(Workloads workloads, int sizeMiB, int? user = null) =>
        StartSharingAsync(workloads, "fork", sizeMiB, user, ownIpcNamespace: false);

    /// <summary>The same with a SysV segment, which the child inherits attached.</summary>
    /// <param name="ownIpcNamespace">Starts it in an IPC namespace of its own (unshare --ipc); else the segment is this host's, and removed on dispose.</param>
    public static Task<Sharer> SysvAsync(Workloads workloads, int sizeMiB, bool ownIpcNamespace, int? user = null) =>
        StartSharingAsync(workloads, "sysv", sizeMiB, user, ownIpcNamespace);

    private static async Task<Sharer> StartSharingAsync(Workloads workloads, string mode, int sizeMiB, int? user, bool ownIpcNamespace)
    {
        var directory = user is null ? null : new TempDirectory("sharer");
        var placement = directory is null ? null : WorkloadPlacement.AsUser(user!.Value, directory);
        if (ownIpcNamespace)
        {
            // unshare execs the workload: its PID stays the one the test migrates.
            var chosen = placement ?? new WorkloadPlacement();
            placement = chosen with { Launcher = ["unshare", "--ipc", .. chosen.Launcher ?? []] };
        }
        var sharer = new Sharer(workloads, mode, sizeMiB.ToString(CultureInfo.InvariantCulture), directory, placement,
            segmentOnHost: mode == "sysv" && !ownIpcNamespace);
        await sharer.WaitForSharingAsync();
        return sharer;
    }

    /// <summary>Maps <paramref name="path"/> shared and writes to it.</summary>
    public static async Task<Sharer> MapFileAsync(Workloads workloads, string path)
    {
        var sharer = new Sharer(workloads, "file", path);
        await sharer.WaitBeyondAsync("shared", 0, "the sharer to write to its mapping");
        return sharer;
    }

    /// <summary>The forked child's PID.</summary>
    public int Child => (int)Number("child");

    /// <summary>Waits until the parent has read a newer value the child wrote into their shared memory, with the rest intact.</summary>
    public async Task WaitForSharingAsync()
    {
        await WaitBeyondAsync("shared", Number("shared"), "the sharer's child to write what its parent reads");
        Assert.Equal("ok", Status()!["verify"]);
    }

    /// <summary>Waits until this sharer has written to its mapping again: it runs.</summary>
    public Task WaitForTicksAsync() => WaitBeyondAsync("ticks", Number("ticks"), "the sharer to write again");

    /// <summary>The SysV segment's ID (sysv only).</summary>
    public int SegmentId => (int)Number("shmid");

    protected override void Release()
    {
        if (_segmentOnHost)
        {
            // A SysV segment outlives the processes that attached it; in an IPC namespace of their own it went with them.
            RemoveSegment(SegmentId);
        }
        _userDirectory?.Dispose();
    }

    private static void RemoveSegment(int id)
    {
        using var ipcrm = System.Diagnostics.Process.Start("ipcrm", ["-m", id.ToString(CultureInfo.InvariantCulture)]);
        ipcrm.WaitForExit();
    }
}
