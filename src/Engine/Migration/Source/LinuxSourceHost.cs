using Microsoft.Extensions.Logging;
using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Migration.Source;

/// <summary>This machine, through /proc, pidfds, CRIU and its images.</summary>
public sealed class LinuxSourceHost(ICriu criu, ILogger logger) : ISourceHost
{
    public ProcessTree Discover(int pid) => ProcessTree.Discover(pid);

    public char? State(int pid) => ProcessTree.State(pid);

    public IStoppedTasks Pin(IEnumerable<int> pids) => StoppedTasks.Pin(pids);

    public Task<HostFacts> CollectFactsAsync(CancellationToken cancellationToken) => HostFactsProbe.CollectAsync(criu, cancellationToken);

    public SourceInspection Inspect(ProcessTree tree, HostFacts source, HostFacts target, MigrationOptions options)
    {
        // Both memory checks look at the same maps: read each task's once.
        var maps = tree.Pids.ToDictionary(pid => pid, pid => ProcFs.Maps.Read(pid));
        var checks = new List<CheckResult>
        {
            Capabilities.Compare(tree.Pids, target.CapabilityBoundingSet),
            SharedMemory.Check(maps),
            SysvNamespace.Check(tree.RootPid, maps),
            LimitsAccess.Check(tree.Pids, source.CriuFeatures.ReadsProcLimits, ResourceLimits.CanRead),
            DeletedFiles.Check(DeletedFiles.Find(tree.Pids), options.GhostLimit),
            UnixSocketPeers.Check(tree.Pids, options.ExternalUnixSockets),
        };
        IReadOnlyList<UprobeSite> sites = [];
        var probed = tree.Pids.Where(UprobeSites.HasUprobesArea).ToList();
        if (probed.Count > 0 && !options.Uprobes.Allow)
        {
            checks.Add(Checks.Fail(UprobeSites.CheckName,
                $"task {probed[0]} has a [uprobes] area: uprobes were hit in it, and restored where they are not active it would die of SIGTRAP",
                "pass --allow-uprobes; then --uprobes require (the default) checks the probes are active on the target, --uprobes strip removes them"));
        }
        else if (probed.Count > 0)
        {
            sites = UprobeSites.Find(probed);
        }
        return new SourceInspection(checks, ProcessFiles.Collect(tree.Pids), sites, probed.Count > 0);
    }

    public bool HasUprobesArea(IReadOnlyList<int> pids) => pids.Any(UprobeSites.HasUprobesArea);

    public IMemoryTracker CreateTracker(PrecopyMode mode, int pid, string sessionDirectory) => mode switch
    {
        PrecopyMode.SoftDirty => new SoftDirtyTracker(criu, pid, sessionDirectory),
        PrecopyMode.ContentHash => new ContentHashTracker(() => ProcessTree.Discover(pid).Pids),
        PrecopyMode.WriteProtect => new WriteProtectPrecopy(() => ProcessTree.Discover(pid).Pids, logger),
        _ => new NoTracker(),
    };

    public IReadOnlyList<FreezeHazard> FindFreezeHazards(string imagesDirectory, VdsoLayout? proxifiedVdso) =>
        FreezeHazards.Find(imagesDirectory, proxifiedVdso);

    public IReadOnlyList<int> DumpedPids(string imagesDirectory) => ProcessTreeImage.Pids(imagesDirectory);

    public Task QuarantineConnectionsAsync(string imagesDirectory, CancellationToken cancellationToken) =>
        NetworkLock.HandOverAsync(imagesDirectory, cancellationToken);

    public Task UnlockConnectionsAsync(string imagesDirectory, CancellationToken cancellationToken) =>
        NetworkLock.ReleaseAsync(imagesDirectory, cancellationToken);
}
