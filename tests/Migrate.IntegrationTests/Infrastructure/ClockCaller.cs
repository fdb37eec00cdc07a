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
    public async Task WaitForGoodCallsAsync()
    {
        await WaitBeyondAsync("calls", Number("calls"), "more clock calls");
        Assert.True(Status()!["clocks"] == "ok", $"the clocks went wrong: {string.Join(' ', Status()!.Select(kv => $"{kv.Key}={kv.Value}"))}");
    }
}
