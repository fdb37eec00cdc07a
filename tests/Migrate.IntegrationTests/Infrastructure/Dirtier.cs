using System.Globalization;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// tests/workloads/dirtier.c: rewrites a hot set of pages with random data and
/// verifies every page of its memory against per-page checksums, pass after pass.
/// </summary>
internal sealed class Dirtier : Workload
{
    private Dirtier(Workloads workloads, int sizeMiB, int hotMiB, int rateMiBPerSecond, WorkloadPlacement? placement)
        : base(workloads, "dirtier", directory =>
            [Path.Combine(directory, "status"), .. new[] { sizeMiB, hotMiB, rateMiBPerSecond }.Select(n => n.ToString(CultureInfo.InvariantCulture))],
            placement)
    {
    }

    /// <param name="rateMiBPerSecond">How fast the hot set is rewritten; 0 is as fast as it can.</param>
    public static async Task<Dirtier> StartAsync(
        Workloads workloads, int sizeMiB, int hotMiB, int rateMiBPerSecond, WorkloadPlacement? placement = null)
    {
        var dirtier = new Dirtier(workloads, sizeMiB, hotMiB, rateMiBPerSecond, placement);
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
