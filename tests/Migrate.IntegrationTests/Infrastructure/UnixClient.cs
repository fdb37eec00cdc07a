namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>tests/workloads/unixclient.c: a unix socket connected to a peer the test holds, sent on every 10 ms.</summary>
internal sealed class UnixClient : Workload
{
    private UnixClient(Workloads workloads, string path, string kind)
        : base(workloads, "unixclient", directory => [Path.Combine(directory, "status"), path, kind])
    {
    }

    /// <param name="kind">dgram or stream.</param>
    public static async Task<UnixClient> StartAsync(Workloads workloads, string path, string kind)
    {
        var client = new UnixClient(workloads, path, kind);
        await client.WaitForTicksAsync();
        return client;
    }

    /// <summary>The descriptor of its socket.</summary>
    public int Fd => (int)Number("fd");

    /// <summary>Waits until it has sent again, and requires every send to have gone through.</summary>
    public async Task WaitForTicksAsync()
    {
        await WaitBeyondAsync("ticks", Number("ticks"), "the unix client to send");
        Assert.Equal("yes", Status()!["sent"]);
    }
}
