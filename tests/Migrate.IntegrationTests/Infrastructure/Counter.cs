using System.Globalization;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>tests/workloads/counter.c: counts, and checks a buffer against a known checksum.</summary>
internal sealed class Counter : Workload
{
    private Counter(Workloads workloads, int bufferMiB, WorkloadPlacement? placement)
        : base(workloads, "counter", directory => [Path.Combine(directory, "status"), bufferMiB.ToString(CultureInfo.InvariantCulture)], placement)
    {
    }

    public static async Task<Counter> StartAsync(Workloads workloads, int bufferMiB, WorkloadPlacement? placement = null)
    {
        var counter = new Counter(workloads, bufferMiB, placement);
        await counter.WaitForProgressAsync();
        return counter;
    }

    /// <summary>Waits until the counter has moved on from where it is now, with its checksum intact.</summary>
    public async Task WaitForProgressAsync()
    {
        await WaitBeyondAsync("counter", Number("counter"), "the counter to advance");
        Assert.Equal("ok", Status()!["checksum"]);
    }
}
