using System.Diagnostics;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;

namespace Migrate.Engine.Memory;

/// <summary>
/// Pre-copy with the kernel's soft-dirty bits: each round is a CRIU
/// pre-dump with memory tracking whose images name the previous round's as
/// parent, so it holds only pages written since. The sets travel as they are
/// and the target keeps the chain; the final dump names the last round as
/// parent (Documentation/memory-changes-tracking.txt).
/// </summary>
public sealed class SoftDirtyTracker(ICriu criu, int pid, string workDirectory) : IMemoryTracker
{
    private int _lastRound;

    public PrecopyMode Mode => PrecopyMode.SoftDirty;

    public static string SetName(int round) => $"pre-{round}";

    private string? ParentSet => _lastRound > 0 ? SetName(_lastRound) : null;

    public async Task<RoundStats> CopyRoundAsync(int round, IPrecopyTarget target, IProgress<RoundProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var set = SetName(round);
        var images = Path.Combine(workDirectory, "images", set);
        var work = Path.Combine(workDirectory, set);
        Directory.CreateDirectory(images);
        await criu.DumpAsync(new CriuDump
        {
            Pid = pid,
            ImagesDirectory = images,
            WorkDirectory = work,
            PreDump = true,
            LeaveStopped = false,
            TrackMemory = true,
            ParentImages = ParentSet is { } parent ? Path.Combine("..", parent) : null,
        }, onNotify: null, cancellationToken).ConfigureAwait(false);
        // A service file: CRIU writes it into the work directory, not among the images.
        var stats = DumpStatsImage.Read(work);
        // The pages CRIU wrote are most of the set's bytes: progress is pages in proportion to bytes sent.
        long setBytes = new DirectoryInfo(images).EnumerateFiles().Sum(file => file.Length);
        var meter = RoundMeter.ForImages(round, (long)stats.PagesWritten, setBytes, progress);
        var sent = await target.SendImagesAsync(ImageSetUpload.Whole(set, ParentSet, images), meter.BytesSent, cancellationToken).ConfigureAwait(false);
        _lastRound = round;
        return new RoundStats(round, (long)stats.PagesScanned, (long)stats.PagesWritten, (long)stats.PagesWritten, ZeroPages: 0,
            sent.BytesRaw, sent.BytesOnWire, clock.Elapsed.TotalMilliseconds);
    }

    public CriuDump FinalDump(CriuDump dump) =>
        dump with { TrackMemory = true, ParentImages = ParentSet is { } parent ? Path.Combine("..", parent) : null };

    public Task<FinalPages> SendFinalPagesAsync(
        string imagesDirectory, IPrecopyTarget target, IProgress<long>? bytesSent, CancellationToken cancellationToken) =>
        Task.FromResult(FinalPages.None with { ParentSet = ParentSet });
}
