namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>tests/workloads/clockcaller.c: calls the vDSO's clocks and checks them against the kernel's.</summary>
internal sealed class ClockCaller : Workload
{
    private ClockCaller(Workloads workloads) : base(workloads, "clockcaller", directory => [Path.Combine(directory, "status")])
    {
    }

    public static async Task<ClockCaller> StartAsync(Workloads workloads)
    {
        var caller = new ClockCaller(workloads);
        await caller.WaitForGoodCallsAsync();
        return caller;
    }

    /// <summary>Waits for more clock calls than now, all of them right.</summary>
    public Task WaitForGoodCallsAsync() => WaitForGoodCallsAsync(Path.Combine(Directory, StatusFileName));

    /// <inheritdoc cref="WaitForGoodCallsAsync()"/>
    public static async Task WaitForGoodCallsAsync(string statusFile, TimeSpan? timeout = null)
    {
        await StatusFile.WaitBeyondAsync(statusFile, "calls", StatusFile.Number(statusFile, "calls"), "more clock calls", timeout);
        Assert.True(StatusFile.Read(statusFile)!["clocks"] == "ok", $"the clocks went wrong: {StatusFile.Describe(statusFile)}");
    }
}
