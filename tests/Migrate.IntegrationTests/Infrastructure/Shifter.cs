using System.Globalization;
using System.Text;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// tests/workloads/shifter.c: changes its memory on command (maps, writes,
/// moves regions, forks, registers a userfaultfd of its own), while its main
/// thread spins, blocks in read(), sits in a signal handler or sleeps.
/// </summary>
internal sealed class Shifter : Workload
{
    private readonly TempDirectory? _sharedDirectory;

    private Shifter(Workloads workloads, string mode, TempDirectory? sharedDirectory, WorkloadPlacement? placement)
        : base(workloads, "shifter", directory => [Path.Combine(directory, "status"), Path.Combine(directory, "control"), mode], placement)
    {
        _sharedDirectory = sharedDirectory;
    }

    /// <param name="mode">What the main thread does: spin, read, handler or sleep.</param>
    /// <param name="user">Runs it as this user and group ID, in a directory it may write to.</param>
    public static async Task<Shifter> StartAsync(Workloads workloads, string mode, int? user = null)
    {
        TempDirectory? directory = null;
        var placement = new WorkloadPlacement(NotOurChild: true);
        if (user is not null)
        {
            directory = new TempDirectory("shifter");
            placement = WorkloadPlacement.AsUser(user.Value, directory) with { NotOurChild = true };
        }
        var shifter = new Shifter(workloads, mode, directory, placement);
        await Eventually.WaitAsync(() => shifter.Status() is { } status && status["main"] == mode, $"the shifter's main thread to {mode}");
        return shifter;
    }

    /// <summary>Runs one command and returns its result token (addr=0x..., child=PID, ok, error=...).</summary>
    public async Task<string> CommandAsync(string command)
    {
        ulong seq = Number("seq");
        Send(command);
        await WaitBeyondAsync("seq", seq, $"the shifter to run '{command}'");
        var result = Status()!["result"];
        Assert.False(result.StartsWith("error", StringComparison.Ordinal), $"{command}: {result}");
        return result;
    }

    /// <summary>Makes the shifter exec itself, and waits for the new image to run.</summary>
    public async Task ExecAsync()
    {
        ulong started = Number("started");
        Send("exec");
        await Eventually.WaitAsync(() => Number("started") != started && Number("started") != 0, "the shifter's new image to start");
    }

    private void Send(string command)
    {
        using var fifo = new FileStream(Path.Combine(Directory, "control"), FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 1);
        fifo.Write(Encoding.ASCII.GetBytes(command + "\n"));
    }

    /// <summary>Runs a command whose result is addr=0x...: maps or moves a region.</summary>
    public async Task<ulong> AddressAsync(string command) =>
        ulong.Parse((await CommandAsync(command))["addr=0x".Length..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    public async Task<int> ForkAsync() => int.Parse((await CommandAsync("fork"))["child=".Length..], CultureInfo.InvariantCulture);

    /// <summary>Checks every page of every region against its checksum, in the shifter itself.</summary>
    public async Task VerifyEveryPageAsync() => Assert.Equal("verify=ok", await CommandAsync("verify"));

    public ulong Value(string key) => Number(key);

    /// <summary>Waits until the spinning threads have made progress.</summary>
    public Task WaitForSpinsAsync() => WaitBeyondAsync("spins", Number("spins"), "the shifter's threads to spin on");

    /// <summary>Waits until the control thread has rewritten the status again: the process runs.</summary>
    public Task WaitForTicksAsync() => WaitBeyondAsync("ticks", Number("ticks"), "the shifter to rewrite its status");

    /// <summary>The forked child's status file: rounds=N verify=ok|BAD pid=P.</summary>
    public IReadOnlyDictionary<string, string>? ChildStatus() => StatusFile.Read(Path.Combine(Directory, "status.child"));

    protected override void Release() => _sharedDirectory?.Dispose();
}
