namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>tests/workloads/locker.c: holds an exclusive flock, POSIX lock or write lease on a file, or the file only open, and says whether it still does.</summary>
internal sealed class Locker : Workload
{
    private Locker(Workloads workloads, string path, string kind)
        : base(workloads, "locker", directory => [Path.Combine(directory, "status"), path, kind])
    {
    }

    /// <param name="kind">flock, posix, lease, or open (no lock).</param>
    public static async Task<Locker> StartAsync(Workloads workloads, string path, string kind)
    {
        var locker = new Locker(workloads, path, kind);
        await locker.WaitForTicksAsync();
        return locker;
    }

    /// <summary>The descriptor that holds the lock.</summary>
    public int Fd => (int)Number("fd");

    /// <summary>Waits until it has looked at its lock again, and requires the lock to be its own still.</summary>
    public async Task WaitForTicksAsync()
    {
        await WaitBeyondAsync("ticks", Number("ticks"), "the locker to look at its lock");
        Assert.Equal("yes", Status()!["held"]);
    }
}
