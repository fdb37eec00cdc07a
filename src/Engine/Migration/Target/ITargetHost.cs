using Migrate.Engine.Compat;

namespace Migrate.Engine.Migration.Target;

/// <summary>
/// This host as the target's sessions use it: its processes, the checks that
/// look at it, and the images CRIU restores. Sessions reach the machine only
/// through here and through CRIU, so that tests can drive every path with fakes.
/// </summary>
public interface ITargetHost : IProcessControl
{
    /// <summary>CRIU's cpuinfo check of the source's CPU description.</summary>
    Task<CheckResult> CheckCpuAsync(ReadOnlyMemory<byte> sourceCpu, CancellationToken cancellationToken);

    /// <summary>The files are here, the same; at most <paramref name="maxHashBytes"/> are hashed.</summary>
    CheckResult CheckFiles(IReadOnlyList<FileFact> files, long maxHashBytes, CancellationToken cancellationToken);

    /// <summary>The PIDs are free here. <paramref name="when"/> says when the check runs, for the report.</summary>
    CheckResult CheckPids(IReadOnlyList<int> pids, string when);

    /// <summary>No file the tree holds locked is the source's own (one kernel) or locked here already.</summary>
    CheckResult CheckFileLocks(IReadOnlyList<FileFact> files, string sourceBootId);

    CheckResult CheckUprobeSites(IReadOnlyList<UprobeSite> sites, bool strip);

    /// <summary>The restored tasks hold the file's bytes at the stripped sites.</summary>
    CheckResult CheckStripped(IReadOnlyList<UprobeSite> sites);

    /// <summary>Writes the sites' original bytes back into the images (--uprobes strip).</summary>
    void StripUprobes(string imagesDirectory, IReadOnlyList<UprobeSite> sites);

    /// <summary>The PIDs of the tree in the images, from CRIU's pstree image.</summary>
    IReadOnlyList<int> ImagePids(string imagesDirectory);

    /// <summary>The tasks of the images that were stopped, or zombies, when dumped (<see cref="Images.TaskStates"/>).</summary>
    Images.DumpedTaskStates DumpedStates(string imagesDirectory);

    /// <summary>
    /// Pins what a failed restore left of a tree: the tasks of <paramref name="pids"/>
    /// that exist, other than helpers this agent started itself (CRIU, its
    /// lazy-pages daemons).
    /// </summary>
    IStoppedTasks PinLeftovers(IReadOnlyList<int> pids);

    /// <summary>Bytes free for unprivileged use on the file system of <paramref name="directory"/> (statvfs f_bavail).</summary>
    long AvailableDiskBytes(string directory);

    /// <summary>Reaps children that exited: killed tasks hold their PIDs until then, and a new restore needs them.</summary>
    void ReapExitedChildren();
}
