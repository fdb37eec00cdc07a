using System.Text.Json.Serialization;
using Migrate.Engine.Criu;

namespace Migrate.Engine.Memory;

public enum PrecopyMode
{
    [JsonStringEnumMemberName("off")]
    Off,

    [JsonStringEnumMemberName("softDirty")]
    SoftDirty,

    [JsonStringEnumMemberName("contentHash")]
    ContentHash,

    [JsonStringEnumMemberName("writeProtect")]
    WriteProtect,
}

/// <summary>One pre-copy round, as the report shows it.</summary>
public sealed record RoundStats(
    int Round, long PagesScanned, long DirtyPages, long SentPages, long ZeroPages, long BytesRaw, long BytesOnWire, double DurationMs)
{
    public double CompressionRatio => BytesOnWire > 0 ? BytesRaw / (double)BytesOnWire : 0;

    /// <summary>Raw bytes moved per second of the round.</summary>
    public double ThroughputBytesPerSecond => DurationMs > 0 ? BytesRaw / (DurationMs / 1000) : 0;
}

/// <summary>Content-hash pre-copy: the target writes a task's pages image from the pages it holds, in the order its pagemap lists them.</summary>
public sealed record PagesRebuild(int Pid, string PagemapFile, string PagesFile);

/// <summary>
/// How far a pre-copy round has got: of the pages it goes through, how many it
/// has, and the bytes it has sent so far. The content-hash tracker goes
/// through every resident page; the soft-dirty one through those CRIU's
/// pre-dump wrote.
/// </summary>
public readonly record struct RoundProgress(int Round, long PagesDone, long PagesTotal, long BytesSent)
{
    public double Fraction => PagesTotal > 0 ? Math.Min(1, PagesDone / (double)PagesTotal) : 0;

    /// <summary>
    /// The time left at the pace so far, or null before the pace means much:
    /// under 2% done or under a second in. A round reads memory front to back
    /// at a steady rate, so the estimate holds once it has started.
    /// </summary>
    public TimeSpan? EstimateLeft(TimeSpan elapsed) =>
        Fraction < 0.02 || elapsed < TimeSpan.FromSeconds(1) ? null : elapsed * ((1 - Fraction) / Fraction);
}

/// <summary>What the final freeze sent besides the image files, and what the target must do with it.</summary>
public sealed record FinalPages(
    long PagesSent, long ZeroPages, long BytesRaw, long BytesOnWire,
    IReadOnlySet<string> RebuiltFiles, IReadOnlyList<PagesRebuild> Rebuild, string? ParentSet)
{
    public static readonly FinalPages None = new(0, 0, 0, 0, new HashSet<string>(), [], null);

    /// <summary>Bytes the tracker read while the tree was frozen to find what to send: CRIU's pages images, or the frozen tasks' memory.</summary>
    public long BytesRead { get; init; }
}

/// <summary>
/// Finds the memory a process changed since the last round and hands it to
/// the target, while the process runs; then makes the final freeze send only
/// what the target still lacks.
/// </summary>
public interface IMemoryTracker
{
    PrecopyMode Mode { get; }

    /// <summary>One pre-copy round while the process runs.</summary>
    Task<RoundStats> CopyRoundAsync(int round, IPrecopyTarget target, IProgress<RoundProgress>? progress, CancellationToken cancellationToken);

    /// <summary>The final dump, adjusted to this tracker (parent images, memory tracking).</summary>
    CriuDump FinalDump(CriuDump dump);

    /// <summary>After the final dump, sends the pages the target lacks and says what else it needs.</summary>
    Task<FinalPages> SendFinalPagesAsync(string imagesDirectory, IPrecopyTarget target, IProgress<long>? bytesSent, CancellationToken cancellationToken);
}

/// <summary>No pre-copy: the final dump carries all memory.</summary>
public sealed class NoTracker : IMemoryTracker
{
    public PrecopyMode Mode => PrecopyMode.Off;

    public Task<RoundStats> CopyRoundAsync(int round, IPrecopyTarget target, IProgress<RoundProgress>? progress, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("pre-copy is off");

    public CriuDump FinalDump(CriuDump dump) => dump;

    public Task<FinalPages> SendFinalPagesAsync(string imagesDirectory, IPrecopyTarget target, IProgress<long>? bytesSent, CancellationToken cancellationToken) =>
        Task.FromResult(FinalPages.None);
}
