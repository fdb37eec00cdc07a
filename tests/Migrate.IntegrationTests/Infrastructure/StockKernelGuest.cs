using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// Debian's stock 6.1 kernel under qemu, sharing this machine's root
/// (tests/hosts/stock-kernel/host.sh): soft-dirty tracking and another vDSO.
/// Booted once for the collection, after the agents were published, since the
/// guest caches what it reads of this machine's files.
/// </summary>
public sealed class StockKernelGuest : IAsyncLifetime
{
    /// <summary>The port the guest's own target agent listens on, forwarded from <see cref="ForwardedPort"/>.</summary>
    public const int AgentPort = 7070;

    private static readonly TimeSpan Slow = TimeSpan.FromMinutes(10);
    private static string HostScript => Path.Combine(Repository.StockKernelHost, "host.sh");

    private readonly string _name = "mig" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Exported writable, at the same path on both sides.</summary>
    public string Exchange { get; private set; } = "";

    /// <summary>This machine's port that reaches <see cref="AgentPort"/> in the guest.</summary>
    public int ForwardedPort { get; private set; }

    /// <summary>The agents as the guest can run them: the guest mounts its own /tmp, so a repository there is copied over.</summary>
    public string Bin { get; private set; } = "";

    public async Task InitializeAsync()
    {
        await RunAsync([HostScript, "prepare"], TimeSpan.FromMinutes(15));
        ForwardedPort = FreePort();
        var started = await RunAsync([HostScript, "start", _name, "--forward", $"{ForwardedPort}:{AgentPort}"], Slow);
        Exchange = started.Stdout.Trim().Split('\n')[^1];
        Bin = Path.Combine(Repository.Root, "bin");
        if (Bin.StartsWith("/tmp/", StringComparison.Ordinal))
        {
            Bin = Path.Combine(Exchange, "bin");
            await RunAsync(["cp", "-a", Path.Combine(Repository.Root, "bin"), Bin], TimeSpan.FromMinutes(1));
        }
    }

    public Task DisposeAsync() => RunAsync([HostScript, "stop", _name], Slow);

    /// <summary>Runs a command in the guest; returns its exit code and output.</summary>
    public Task<(int ExitCode, string Stdout, string Stderr)> ExecAsync(params string[] command) =>
        RunAsync([HostScript, "exec", _name, "--timeout", ((int)Slow.TotalSeconds).ToString(CultureInfo.InvariantCulture), "--", .. command], Slow + TimeSpan.FromMinutes(1), check: false);

    /// <summary>Starts a command in the guest in the background; returns its PID there.</summary>
    public async Task<int> StartAsync(params string[] command)
    {
        var started = await RunAsync([HostScript, "exec", _name, "--detach", "--", .. command], Slow);
        return int.Parse(started.Stdout.Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>Copies a file into the exchange directory, where both sides see it at the same path.</summary>
    public string Share(string path)
    {
        var shared = Path.Combine(Exchange, Path.GetFileName(path));
        File.Copy(path, shared, overwrite: true);
        return shared;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string[] command, TimeSpan timeout, bool check = true)
    {
        var run = await ChildProcess.RunAsync(command[0], command.Skip(1), timeout);
        Assert.True(!check || run.ExitCode == 0, run.ToString());
        return (run.ExitCode, run.Stdout, run.Stderr);
    }
}

[CollectionDefinition(Name)]
public sealed class StockKernelCollection : ICollectionFixture<Workloads>, ICollectionFixture<StockKernelGuest>
{
    /// <summary>Tests that share the stock-kernel guest; they run one at a time like every CRIU test.</summary>
    public const string Name = "stock-kernel";
}
