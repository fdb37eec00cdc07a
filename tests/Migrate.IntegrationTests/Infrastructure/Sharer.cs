using System.Globalization;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// tests/workloads/sharer.c: memory shared with its forked child (anonymous
/// shared memory, a tree of two), or with whoever else maps one file.
/// </summary>
internal sealed class Sharer : Workload
{
    private readonly TempDirectory? _userDirectory;

    private Sharer(Workloads workloads, string mode, string argument, TempDirectory? userDirectory = null, WorkloadPlacement? placement = null)
        : base(workloads, "sharer", directory => [Path.Combine(directory, "status"), mode, argument], placement)
    {
        _userDirectory = userDirectory;
    }

    /// <summary>Maps <paramref name="sizeMiB"/> of anonymous shared memory and forks a child that writes to it.</summary>
    /// <param name="user">Runs both as this user and group ID.</param>
    public static async Task<Sharer> ForkAsync(Workloads workloads, int sizeMiB, int? user = null)
    {
        var directory = user is null ? null : new TempDirectory("sharer");
        var sharer = new Sharer(workloads, "fork", sizeMiB.ToString(CultureInfo.InvariantCulture), directory,
            directory is null ? null : WorkloadPlacement.AsUser(user!.Value, directory));
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

    protected override void Release() => _userDirectory?.Dispose();
}
