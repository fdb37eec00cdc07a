using System.Diagnostics;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// Pre-copy for kernels without soft-dirty tracking: each round reads the
/// running tree's memory, hashes every page and sends those whose hash
/// changed. At the freeze, CRIU's dump is compared page by page with what the
/// target holds; only the differences travel, and the target rebuilds CRIU's
/// pages images from its copy.
/// </summary>
public sealed class ContentHashTracker(Func<IReadOnlyList<int>> currentTasks) : IMemoryTracker
{
    private readonly Dictionary<int, PageHashes> _held = [];

    public PrecopyMode Mode => PrecopyMode.ContentHash;

    public async Task<RoundStats> CopyRoundAsync(int round, IPrecopyTarget target, IProgress<RoundProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var tasks = currentTasks();
        // Counting first costs one more pass over the pagemaps (8 bytes a page), a few milliseconds a GiB.
        var meter = new RoundMeter(round, progress is null ? 0 : tasks.Sum(ResidentPages.Count), progress);
        var stats = await target.SendPagesAsync(new PageRound(round), async (output, token) =>
        {
            var counts = new SiftCounts();
            foreach (var pid in tasks)
            {
                counts += await PageScanner.ScanProcessAsync(pid, Held(pid), output, meter.AddPagesDone, token).ConfigureAwait(false);
            }
            return counts;
        }, meter.BytesSent, cancellationToken).ConfigureAwait(false);
        return new RoundStats(round, stats.Counts.Scanned, stats.Counts.Changed, stats.PagesSent, stats.ZeroPages,
            stats.BytesRaw, stats.BytesOnWire, clock.Elapsed.TotalMilliseconds);
    }

    public CriuDump FinalDump(CriuDump dump) => dump;

    public async Task<FinalPages> SendFinalPagesAsync(
        string imagesDirectory, IPrecopyTarget target, IProgress<long>? bytesSent, CancellationToken cancellationToken)
    {
        var rebuild = new List<PagesRebuild>();
        var pagemaps = new List<(int Pid, PagemapImage Pagemap)>();
        // A zombie has no memory to dump, and no pagemap image.
        foreach (var pid in TaskStates.WithMemory(imagesDirectory))
        {
            var pagemap = PagemapImage.Read(Path.Combine(imagesDirectory, PagemapImage.FileName(pid)));
            pagemaps.Add((pid, pagemap));
            rebuild.Add(new PagesRebuild(pid, PagemapImage.FileName(pid), pagemap.PagesFileName));
        }
        var stats = await target.SendPagesAsync(new PageRound(0), async (output, token) =>
        {
            var counts = new SiftCounts();
            foreach (var (pid, pagemap) in pagemaps)
            {
                var pagesFile = Path.Combine(imagesDirectory, pagemap.PagesFileName);
                counts += await PageScanner.ScanDumpAsync(pid, pagemap, pagesFile, Held(pid), output, token).ConfigureAwait(false);
            }
            return counts;
        }, bytesSent, cancellationToken).ConfigureAwait(false);
        return new FinalPages(stats.PagesSent, stats.ZeroPages, stats.BytesRaw, stats.BytesOnWire,
            rebuild.Select(r => r.PagesFile).ToHashSet(), rebuild, ParentSet: null)
        {
            BytesRead = pagemaps.Sum(task => task.Pagemap.PresentPages) * PageSize.Bytes,
        };
    }

    private PageHashes Held(int pid)
    {
        if (!_held.TryGetValue(pid, out var hashes))
        {
            _held[pid] = hashes = new PageHashes();
        }
        return hashes;
    }
}
