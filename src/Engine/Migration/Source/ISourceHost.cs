using Migrate.Engine.Compat;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Migration.Source;

/// <summary>What the source side of one process's migration found on this host before anything was frozen.</summary>
/// <param name="Checks">The source's own checks: capabilities, shared memory, resource limits, deleted files, unix sockets and uprobes.</param>
/// <param name="Files">The files the tree uses, for the target's files check.</param>
/// <param name="UprobeSites">Breakpoints in the tree's code (empty unless uprobes are allowed and were hit).</param>
/// <param name="HasUprobesArea">A task has a [uprobes] area: CRIU needs --allow-uprobes for it.</param>
public sealed record SourceInspection(
    IReadOnlyList<CheckResult> Checks, IReadOnlyList<FileFact> Files, IReadOnlyList<UprobeSite> UprobeSites, bool HasUprobesArea);

/// <summary>
/// This host as the source's migration phases use it: its processes, the
/// facts it tells the target, the images CRIU dumps into its work directory,
/// and the trackers that read its processes' memory. The phases reach the
/// machine only through here, so that tests can drive every path with a fake.
/// </summary>
public interface ISourceHost : IProcessControl
{
    /// <summary>The tree rooted at <paramref name="pid"/>; throws <see cref="MigrationRefusedException"/> saying why it cannot move.</summary>
    ProcessTree Discover(int pid);

    Task<HostFacts> CollectFactsAsync(CancellationToken cancellationToken);

    /// <summary>The source's checks of the tree, here and against the target, and what the target's checks need from here.</summary>
    SourceInspection Inspect(ProcessTree tree, HostFacts source, HostFacts target, MigrationOptions options);

    /// <summary>A task of <paramref name="pids"/> has a [uprobes] area now: a probe may be hit while pre-copy runs.</summary>
    bool HasUprobesArea(IReadOnlyList<int> pids);

    /// <summary>The tracker that finds what the tree changes during pre-copy.</summary>
    IMemoryTracker CreateTracker(PrecopyMode mode, int pid, string sessionDirectory);

    /// <summary>Threads of the frozen tree standing where a restore would hurt them (FreezeHazards).</summary>
    IReadOnlyList<FreezeHazard> FindFreezeHazards(string imagesDirectory, VdsoLayout? proxifiedVdso);

    /// <summary>The PIDs of the dumped tree, from CRIU's pstree image.</summary>
    IReadOnlyList<int> DumpedPids(string imagesDirectory);

    /// <summary>
    /// After the commit point: the tree's connections (--tcp-established) leave
    /// the lock CRIU's dump put them in for a quarantine that expires by itself.
    /// </summary>
    Task QuarantineConnectionsAsync(string imagesDirectory, CancellationToken cancellationToken);

    /// <summary>For a tree resumed here after CRIU left it stopped: its connections are let through again.</summary>
    Task UnlockConnectionsAsync(string imagesDirectory, CancellationToken cancellationToken);
}
