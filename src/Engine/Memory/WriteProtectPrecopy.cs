using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// Pre-copy with exact write tracking, for kernels without soft-dirty: the
/// <see cref="WriteProtectTracker"/> finds the pages written since the last
/// round, the first round reads every page that holds data, and the target
/// keeps each round as the next CRIU image set of a chain
/// (<see cref="PrecopyImageChain"/>), written while the process runs. The
/// final dump (criu --track-mem-wp, patch 0001) writes only the pages written
/// since the last round and leaves the rest in a pages-less parent
/// (<see cref="WriteTrackingParent"/>). So the freeze reads, sends and writes
/// the dirty set, not the process. Shared memory is copied by content
/// instead (<see cref="SharedMemoryCopy"/>).
/// </summary>
/// <remarks>
/// Every page the final dump leaves in its parent is checked against what the
/// chain holds, while the tree is frozen; any the chain lacks (a page the
/// tracker was never shown, for instance) is read from the frozen tasks and
/// sent as one more round, so the final set's parent holds every page it
/// names. The target checks the same again before it restores
/// (SessionRestorer). The userfaultfds stay open until the tracker is
/// disposed, after CRIU has dumped: CRIU reads the protection they keep.
/// The target's chain names each task as CRIU's images do, by its PID in its
/// own PID namespace (NSpid), which is not this host's PID for a tree that
/// runs in a namespace of its own.
/// </remarks>
public sealed class WriteProtectPrecopy(Func<IReadOnlyList<int>> currentTasks, ILogger logger) : IMemoryTracker, IDisposable
{
    private readonly WriteProtectTracker _tracker = new(logger);
    private readonly SharedMemoryCopy _shared = new();
    // By image PID: what the target's chain holds of each task.
    private readonly Dictionary<int, PageRanges> _sent = [];
    private readonly Dictionary<int, int> _imagePids = [];
    private int _lastRound;

    public PrecopyMode Mode => PrecopyMode.WriteProtect;

    public async Task<RoundStats> CopyRoundAsync(int round, IPrecopyTarget target, IProgress<RoundProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var tasks = currentTasks();
        var writes = _tracker.Scan(tasks);
        var shared = SharedMemoryCopy.Find(tasks);
        var meter = new RoundMeter(round, writes.Sum(task => task.WrittenPages + task.WholePages) + shared.Sum(o => (long)o.Area.Pages), progress);
        var stats = await SendRoundAsync(round, writes.Select(task => (task.Pid, Runs: (Func<ResidentPages, IEnumerable<PageRun>>)task.Runs)),
            shared.Select(o => (o, (IReadOnlyList<PageRun>?)null)), target, meter.AddPagesDone, meter.BytesSent, cancellationToken).ConfigureAwait(false);
        return new RoundStats(round, stats.Counts.Scanned, stats.Counts.Changed, stats.PagesSent, stats.ZeroPages,
            stats.BytesRaw, stats.BytesOnWire, clock.Elapsed.TotalMilliseconds);
    }

    public CriuDump FinalDump(CriuDump dump)
    {
        // CRIU looks for the parent beside the images, by a relative path (criu/image.c, open_parent).
        var parent = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dump.ImagesDirectory))!, WriteTrackingParent.SetName);
        WriteTrackingParent.Write(parent, currentTasks().Select(ImagePid), _shared.Copied);
        return dump with { TrackMemory = true, TrackMemoryByWriteProtect = true, ParentImages = Path.Combine("..", WriteTrackingParent.SetName) };
    }

    public async Task<FinalPages> SendFinalPagesAsync(
        string imagesDirectory, IPrecopyTarget target, IProgress<long>? bytesSent, CancellationToken cancellationToken)
    {
        var missing = new List<(int Pid, IReadOnlyList<PageRange> Ranges)>();
        var hostPids = currentTasks().ToDictionary(ImagePid);
        // A zombie has no memory to dump, and no pagemap image.
        foreach (var imagePid in TaskStates.WithMemory(imagesDirectory))
        {
            var pagemap = PagemapImage.Read(Path.Combine(imagesDirectory, PagemapImage.FileName(imagePid)));
            var sent = _sent.GetValueOrDefault(imagePid) ?? new PageRanges();
            var gaps = pagemap.Runs.Where(run => (run.Flags & PagemapRun.InParent) != 0)
                .SelectMany(run => sent.Gaps(run.Address, run.Pages)).ToList();
            if (gaps.Count > 0)
            {
                missing.Add((hostPids.TryGetValue(imagePid, out int pid) ? pid
                    : throw new InvalidDataException($"CRIU dumped task {imagePid}, which is not in the process tree"), gaps));
            }
        }
        var shared = SharedPagesInParent(imagesDirectory);
        if (missing.Count == 0 && shared.Count == 0)
        {
            return FinalPages.None with { ParentSet = PrecopyImageChain.SetName(_lastRound) };
        }
        // The tasks are frozen, and their memory is as CRIU dumped it: reading it now is reading the dump.
        int round = _lastRound + 1;
        var stats = await SendRoundAsync(round,
            missing.Select(task => (task.Pid, Runs: (Func<ResidentPages, IEnumerable<PageRun>>)(_ => task.Ranges.SelectMany(range => range.Runs())))),
            shared, target, pagesRead: null, bytesSent, cancellationToken).ConfigureAwait(false);
        return new FinalPages(stats.PagesSent, stats.ZeroPages, stats.BytesRaw, stats.BytesOnWire,
            new HashSet<string>(), [], PrecopyImageChain.SetName(round))
        {
            BytesRead = stats.Counts.Scanned * PageSize.Bytes,
        };
    }

    public void Dispose() => _tracker.Dispose();

    /// <summary>
    /// The shared memory the final dump left in its parent, by object: all of
    /// each pre-copied object that holds data (patch 0005). It has to be read
    /// again now, frozen, and what changed sent.
    /// </summary>
    private List<(SharedMemoryObject Object, IReadOnlyList<PageRun>? Runs)> SharedPagesInParent(string imagesDirectory)
    {
        var result = new List<(SharedMemoryObject, IReadOnlyList<PageRun>?)>();
        Dictionary<uint, SharedMemoryObject>? mapped = null;
        foreach (var file in Directory.EnumerateFiles(imagesDirectory, "pagemap-shmem-*.img"))
        {
            if (PageOwner.FromPagemapFileName(Path.GetFileName(file)) is not { SharedMemoryId: { } id })
            {
                continue;
            }
            var runs = PagemapImage.Read(file).Runs.Where(run => (run.Flags & PagemapRun.InParent) != 0)
                .SelectMany(run => new PageRange(run.Address, run.End).Runs()).ToList();
            if (runs.Count == 0)
            {
                continue;
            }
            mapped ??= SharedMemoryCopy.Find(currentTasks()).ToDictionary(o => o.Id);
            result.Add((mapped.TryGetValue(id, out var shared) ? shared
                : throw new InvalidDataException($"CRIU left pages of shared memory {id} in the parent, and no task of the tree maps it now"), runs));
        }
        return result;
    }

    /// <summary>Reads each task's runs and sends them as chain round <paramref name="round"/>; remembers which pages the target now holds.</summary>
    private async Task<PageStreamStats> SendRoundAsync(
        int round, IEnumerable<(int Pid, Func<ResidentPages, IEnumerable<PageRun>> Runs)> tasks,
        IEnumerable<(SharedMemoryObject Object, IReadOnlyList<PageRun>? Runs)> shared, IPrecopyTarget target,
        Action<int>? pagesRead, IProgress<long>? bytesSent, CancellationToken cancellationToken)
    {
        var stats = await target.SendPagesAsync(new PageRound(round, ImageChain: true), async (output, token) =>
        {
            var counts = new SiftCounts();
            foreach (var (pid, runs) in tasks)
            {
                using var resident = ResidentPages.Open(pid);
                if (resident is null)
                {
                    continue;
                }
                int imagePid = ImagePid(pid);
                var sent = Sent(imagePid);
                counts += await PageScanner.ReadRunsAsync(pid, runs(resident), (builder, address, pages) =>
                {
                    sent.Add(address, pages);
                    return builder.Keep(address, pages);
                }, output, pagesRead, token, imagePid).ConfigureAwait(false);
            }
            foreach (var (shared, runs) in shared)
            {
                counts += await _shared.SendChangedAsync(shared, runs, output, pagesRead, token).ConfigureAwait(false)
                    ?? (runs is null ? default : throw new InvalidDataException(
                        $"cannot read {shared.Area.Path} through task {shared.Pid}, and CRIU left its pages in the parent"));
            }
            return counts;
        }, bytesSent, cancellationToken).ConfigureAwait(false);
        _lastRound = round;
        return stats;
    }

    /// <summary>The task's PID in its own PID namespace; a PID keeps its namespace PID for life.</summary>
    private int ImagePid(int pid)
    {
        if (!_imagePids.TryGetValue(pid, out int imagePid))
        {
            _imagePids[pid] = imagePid = ProcFs.Status.Read(pid)?.NamespacePid ?? pid;
        }
        return imagePid;
    }

    private PageRanges Sent(int pid)
    {
        if (!_sent.TryGetValue(pid, out var ranges))
        {
            _sent[pid] = ranges = new PageRanges();
        }
        return ranges;
    }
}
