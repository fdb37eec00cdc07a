using Migrate.Engine.Compat;
using Migrate.Engine.Images;
using Migrate.Engine.Migration;
using Migrate.Engine.Migration.Target;

namespace Migrate.Engine.Tests.Migration.Fakes;

/// <summary>A target host on which CRIU restores PID 100, stopped, and every check passes.</summary>
internal sealed class FakeTargetHost(Journal journal) : ITargetHost
{
    public const int RestoredPid = 100;

    private readonly Dictionary<int, char> _states = [];

    /// <summary>The state CRIU leaves a restored task in.</summary>
    public char RestoredState { get; set; } = 'T';

    /// <summary>What statvfs says is free for the work directory.</summary>
    public long FreeDisk { get; set; } = 1L << 40;

    public char? State(int pid) => _states.TryGetValue(pid, out var state) ? state : null;

    /// <summary>A task CRIU has created, half-way through a restore: it exists, stopped.</summary>
    public void CreatedByCriu(int pid) => _states[pid] = 't';

    public IStoppedTasks PinLeftovers(IReadOnlyList<int> pids) =>
        new FakeStoppedTasks(journal, _states, pids.Where(_states.ContainsKey).ToList(), killFailure: null);

    public long AvailableDiskBytes(string directory) => FreeDisk;

    public IStoppedTasks Pin(IEnumerable<int> pids)
    {
        var list = pids.ToList();
        foreach (var pid in list)
        {
            _states[pid] = RestoredState;
        }
        return new FakeStoppedTasks(journal, _states, list, killFailure: null);
    }

    public Task<CheckResult> CheckCpuAsync(ReadOnlyMemory<byte> sourceCpu, CancellationToken cancellationToken) =>
        Task.FromResult(Checks.Pass("cpu", "same CPU"));

    public CheckResult CheckFiles(IReadOnlyList<FileFact> files, long maxHashBytes, CancellationToken cancellationToken) => Checks.Pass("files", "all the same");

    public CheckResult CheckFileLocks(IReadOnlyList<FileFact> files, string sourceBootId) => Checks.Pass("file-locks", "none locked here");

    public CheckResult CheckPids(IReadOnlyList<int> pids, string when) => Checks.Pass("pids", $"{when}: free");

    public CheckResult CheckUprobeSites(IReadOnlyList<UprobeSite> sites, bool strip) => Checks.Pass("uprobes", "none");

    public CheckResult CheckStripped(IReadOnlyList<UprobeSite> sites) => Checks.Pass("uprobes", "stripped");

    public void StripUprobes(string imagesDirectory, IReadOnlyList<UprobeSite> sites) => journal.Add("uprobes stripped");

    /// <summary>The tree the images hold, root first.</summary>
    public IReadOnlyList<int> TreePids { get; set; } = [RestoredPid];

    /// <summary>The tasks of the images that were stopped on the source.</summary>
    public IReadOnlySet<int> StoppedOnSource { get; set; } = new HashSet<int>();

    public IReadOnlyList<int> ImagePids(string imagesDirectory) => TreePids;

    public DumpedTaskStates DumpedStates(string imagesDirectory) => DumpedTaskStates.None with { Stopped = StoppedOnSource };

    public void ReapExitedChildren() => journal.Add("children reaped");
}
