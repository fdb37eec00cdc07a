using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Migration.Target;

/// <summary>This machine, through /proc, pidfds, CRIU and its images.</summary>
public sealed class LinuxTargetHost(ICriu criu) : ITargetHost
{
    public char? State(int pid) => ProcessTree.State(pid);

    public IStoppedTasks Pin(IEnumerable<int> pids) => StoppedTasks.Pin(pids);

    public IStoppedTasks PinLeftovers(IReadOnlyList<int> pids) => StoppedTasks.Pin(pids.Where(pid => !ChildReaper.IsSpawned(pid)));

    public Task<CheckResult> CheckCpuAsync(ReadOnlyMemory<byte> sourceCpu, CancellationToken cancellationToken) =>
        CpuCheck.VerifyAsync(criu, sourceCpu.ToArray(), cancellationToken);

    public CheckResult CheckFiles(IReadOnlyList<FileFact> files, long maxHashBytes, CancellationToken cancellationToken) =>
        ProcessFiles.Verify(files, maxHashBytes, cancellationToken);

    public CheckResult CheckPids(IReadOnlyList<int> pids, string when) => PidCheck.Verify(pids, when);

    public CheckResult CheckFileLocks(IReadOnlyList<FileFact> files, string sourceBootId) => FileLocks.Verify(files, sourceBootId);

    public CheckResult CheckUprobeSites(IReadOnlyList<UprobeSite> sites, bool strip) => UprobeSites.Verify(sites, strip);

    public CheckResult CheckStripped(IReadOnlyList<UprobeSite> sites) => UprobeSites.VerifyStripped(sites);

    public void StripUprobes(string imagesDirectory, IReadOnlyList<UprobeSite> sites) => UprobeStrip.Apply(imagesDirectory, sites);

    public IReadOnlyList<int> ImagePids(string imagesDirectory) => ProcessTreeImage.Pids(imagesDirectory);

    public DumpedTaskStates DumpedStates(string imagesDirectory) => TaskStates.Read(imagesDirectory);

    public long AvailableDiskBytes(string directory) => new DriveInfo(directory).AvailableFreeSpace;

    public void ReapExitedChildren() => ChildReaper.ReapExited();
}
