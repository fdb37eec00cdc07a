using System.Globalization;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// tests/workloads/dirtier.c: rewrites a hot set of pages with random data and
/// verifies every page of its memory against per-page checksums, pass after pass.
/// </summary>
internal sealed class Dirtier : Workload
{
    private Dirtier(Workloads workloads, int sizeMiB, int hotMiB, int rateMiBPerSecond)
        : base(workloads, "dirtier", directory =>
            [Path.Combine(directory, "status"), .. new[] { sizeMiB, hotMiB, rateMiBPerSecond }.Select(n => n.ToString(CultureInfo.InvariantCulture))])
    {
    }

    /// <param name="rateMiBPerSecond">How fast the hot set is rewritten; 0 is as fast as it can.</param>
    public static async Task<Dirtier> StartAsync(Workloads workloads, int sizeMiB, int hotMiB, int rateMiBPerSecond)
    {
        var dirtier = new Dirtier(workloads, sizeMiB, hotMiB, rateMiBPerSecond);
        await dirtier.WaitBeyondAsync("passes", 0, "the dirtier's first verification pass");
        return dirtier;
    }

    /// <summary>
    /// Waits for a verification pass that ran wholly after now (the pass under
    /// way completes first), then requires that every page matched.
    /// </summary>
    public async Task VerifyEveryPageAsync()
    {
        ulong passes = Number("passes");
        await WaitBeyondAsync("passes", passes + 1, "two more verification passes");
        var status = Status()!;
        Assert.True(status["verify"] == "ok", $"a page differs from its checksum: {string.Join(' ', status.Select(kv => $"{kv.Key}={kv.Value}"))}");
    }

    public ulong Writes => Number("writes");
}
