using System.Globalization;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// tests/workloads/dirtier.c: rewrites a hot set of pages with random data and
/// verifies every page of its memory against per-page checksums, pass after pass.
/// </summary>
internal sealed class Dirtier : Workload
{
    private Dirtier(Workloads workloads, int sizeMiB, int hotMiB, int rateMiBPerSecond, DirtierMemory memory, WorkloadPlacement? placement)
        : base(workloads, "dirtier", directory =>
            [Path.Combine(directory, "status"), .. new[] { sizeMiB, hotMiB, rateMiBPerSecond, Seed }.Select(n => n.ToString(CultureInfo.InvariantCulture)),
                memory.ToString().ToLowerInvariant()],
            placement)
    {
    }

    // The workload's default seed.
    private const int Seed = 1;

    /// <param name="rateMiBPerSecond">How fast the hot set is rewritten; 0 is as fast as it can.</param>
    /// <param name="memory">The kind of memory its buffer is.</param>
    public static async Task<Dirtier> StartAsync(
        Workloads workloads, int sizeMiB, int hotMiB, int rateMiBPerSecond, WorkloadPlacement? placement = null,
        DirtierMemory memory = DirtierMemory.Private)
    {
        var dirtier = new Dirtier(workloads, sizeMiB, hotMiB, rateMiBPerSecond, memory, placement);
        await dirtier.WaitBeyondAsync("passes", 0, "the dirtier's first verification pass");
        return dirtier;
    }

    /// <summary>
    /// Waits for a verification pass that ran wholly after now (the pass under
    /// way completes first), then requires that every page matched.
    /// </summary>
    public Task VerifyEveryPageAsync() => VerifyEveryPageAsync(Path.Combine(Directory, StatusFileName));

    /// <inheritdoc cref="VerifyEveryPageAsync()"/>
    public static async Task VerifyEveryPageAsync(string statusFile, TimeSpan? timeout = null)
    {
        ulong passes = StatusFile.Number(statusFile, "passes");
        await StatusFile.WaitBeyondAsync(statusFile, "passes", passes + 1, "two more verification passes", timeout);
        Assert.True(StatusFile.Read(statusFile)!["verify"] == "ok", $"a page differs from its checksum: {StatusFile.Describe(statusFile)}");
    }

    public ulong Writes => Number("writes");
}

/// <summary>What the dirtier's buffer is: anonymous private memory, anonymous shared memory, or a memfd mapped shared.</summary>
public enum DirtierMemory
{
    Private,
    Shared,
    Memfd,
}
