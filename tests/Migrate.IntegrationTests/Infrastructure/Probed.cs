namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>tests/workloads/probed.c: calls functions for uprobes to probe.</summary>
internal sealed class Probed : Workload
{
    private Probed(Workloads workloads, string mode)
        : base(workloads, "probed", directory => [Path.Combine(directory, "status"), mode])
    {
        Binary = workloads.Binary("probed");
    }

    /// <summary>The executable, for placing probes on its functions.</summary>
    public string Binary { get; }

    /// <param name="mode">fast, slow or stuck (tests/workloads/README.md).</param>
    public static async Task<Probed> StartAsync(Workloads workloads, string mode)
    {
        var probed = new Probed(workloads, mode);
        if (mode == "stuck")
        {
            // It calls once and never returns: more calls than the first never come, and the first may be in before the test looks.
            await probed.WaitBeyondAsync("inside", 0, "the probed process to enter its function");
        }
        else
        {
            await probed.WaitForCallsAsync();
        }
        return probed;
    }

    /// <summary>Waits for more calls than now: the process runs, and survives its probes.</summary>
    public Task WaitForCallsAsync() => WaitBeyondAsync("calls", Number("calls"), "the probed process to call its function again");
}
