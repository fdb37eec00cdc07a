using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Memory;
using Migrate.Engine.Migration;
using Migrate.Engine.Migration.Source;

namespace Migrate.Engine.Tests.Migration.Fakes;

/// <summary>The source host of one process tree (PIDs 4242 and 4243), whose tasks the fakes stop, resume and kill.</summary>
internal sealed class FakeHost(Journal journal) : ISourceHost
{
    public const int Pid = 4242;
    public const int Child = 4243;

    private readonly Dictionary<int, char> _states = new() { [Pid] = 'S', [Child] = 'S' };

    public IReadOnlyList<FreezeHazard> Hazards { get; set; } = [];
    public bool ChecksHazards { get; set; }
    public Exception? DumpedPidsFailure { get; set; }
    public Exception? KillFailure { get; set; }

    /// <summary>Thrown by Pin, as pidfd_open refused for a task of the stopped tree.</summary>
    public Exception? PinFailure { get; set; }
    public Exception? NetworkLockFailure { get; set; }
    public IMemoryTracker Tracker { get; set; } = new NoTracker();

    private readonly HashSet<int> _stoppedBefore = [];

    /// <summary>Stops <paramref name="pid"/> by a signal before the migration begins: the tree is found with it in state T.</summary>
    public void StopBefore(int pid)
    {
        _stoppedBefore.Add(pid);
        _states[pid] = 'T';
    }

    public static HostFacts Facts(string hostname) => new()
    {
        Hostname = hostname,
        KernelRelease = "6.18.0",
        CriuVersion = "4.2.1",
        Architecture = "x86_64",
        CriuFeatures = new CriuFeatureSet(false, true),
        CpuinfoImage = new byte[] { 1 },
        Vdso = VdsoLayout.Empty,
        CapabilityBoundingSet = ulong.MaxValue,
        MemoryAvailableBytes = 1L << 34,
    };

    /// <summary>The tasks are stopped, as CRIU leaves them after the dump.</summary>
    public void Freeze()
    {
        _states[Pid] = 'T';
        _states[Child] = 'T';
    }

    public char? State(int pid) => _states.TryGetValue(pid, out var state) ? state : null;

    public IStoppedTasks Pin(IEnumerable<int> pids) => PinFailure is { } failure
        ? throw failure
        : new FakeStoppedTasks(journal, _states, pids.Where(_states.ContainsKey).ToList(), KillFailure);

    public ProcessTree Discover(int pid) =>
        pid == Pid ? new ProcessTree(Pid, "dirtier", [Pid, Child], _stoppedBefore) : throw new MigrationRefusedException($"no process with PID {pid}");

    public Task<HostFacts> CollectFactsAsync(CancellationToken cancellationToken) => Task.FromResult(Facts("source"));

    public SourceInspection Inspect(ProcessTree tree, HostFacts source, HostFacts target, MigrationOptions options) =>
        new([Checks.Pass("capabilities", "held on the target")], [], [], HasUprobesArea: false);

    public bool HasUprobesArea(IReadOnlyList<int> pids) => ChecksHazards;

    public IMemoryTracker CreateTracker(PrecopyMode mode, int pid, string sessionDirectory) => Tracker;

    public IReadOnlyList<FreezeHazard> FindFreezeHazards(string imagesDirectory, VdsoLayout? proxifiedVdso)
    {
        journal.Add("hazards checked");
        return Hazards;
    }

    public IReadOnlyList<int> DumpedPids(string imagesDirectory)
    {
        journal.Add("pstree read");
        // CRIU froze and dumped the tree before it asked for this.
        Freeze();
        return DumpedPidsFailure is { } failure ? throw failure : [Pid, Child];
    }

    public Task QuarantineConnectionsAsync(string imagesDirectory, CancellationToken cancellationToken)
    {
        journal.Add("connections quarantined");
        return NetworkLockFailure is { } failure ? Task.FromException(failure) : Task.CompletedTask;
    }

    public Task UnlockConnectionsAsync(string imagesDirectory, CancellationToken cancellationToken)
    {
        journal.Add("connections unlocked");
        return NetworkLockFailure is { } failure ? Task.FromException(failure) : Task.CompletedTask;
    }
}

internal sealed class FakeStoppedTasks(Journal journal, Dictionary<int, char> states, IReadOnlyList<int> pids, Exception? killFailure) : IStoppedTasks
{
    public IReadOnlyList<int> Pids => pids;

    public int Resume(IReadOnlySet<int> leaveStopped)
    {
        var resumed = pids.Where(pid => !leaveStopped.Contains(pid)).ToList();
        foreach (var pid in resumed)
        {
            states[pid] = 'S';
        }
        journal.Add("tasks resumed");
        return resumed.Count;
    }

    public void ResumeStopped(IReadOnlySet<int> leaveStopped)
    {
        if (pids.Any(pid => states[pid] == 'T' && !leaveStopped.Contains(pid)))
        {
            Resume(leaveStopped);
        }
    }

    public int SendKill()
    {
        journal.Add("tasks killed");
        if (killFailure is not null and not IOException)
        {
            throw killFailure;
        }
        foreach (var pid in pids)
        {
            states.Remove(pid);
        }
        return pids.Count;
    }

    /// <summary>An IOException as the kill failure is a task slow to exit.</summary>
    public void WaitGone(TimeSpan timeout)
    {
        journal.Add("tasks gone");
        if (killFailure is IOException slow)
        {
            throw slow;
        }
    }

    public void Dispose()
    {
    }
}
