using System.Threading.Channels;

namespace Migrate.Engine.Memory;

/// <summary>Produces one stream's page batches; returns what it looked at.</summary>
public delegate Task<SiftCounts> PageScan(ChannelWriter<PageBatchBuilder> output, CancellationToken cancellationToken);

/// <summary>Which page stream this is.</summary>
/// <param name="Number">1, 2, ... for pre-copy rounds; 0 for the differences sent while frozen.</param>
/// <param name="ImageChain">The target keeps the round as CRIU image set pre-NUMBER, parent the previous round's (<see cref="PrecopyImageChain"/>).</param>
public readonly record struct PageRound(int Number, bool ImageChain = false);

/// <summary>What one page stream moved.</summary>
public readonly record struct PageStreamStats(SiftCounts Counts, long PagesSent, long ZeroPages, long BytesRaw, long BytesOnWire);

/// <summary>Bytes moved by one transfer of files: before compression, and as sent.</summary>
public readonly record struct TransferStats(int Files, long BytesRaw, long BytesOnWire);

/// <summary>
/// A CRIU image directory to send as a named set.
/// </summary>
/// <param name="Parent">The set this one's images name as parent (soft-dirty chains), or null.</param>
/// <param name="Exclude">Files of the directory the target rebuilds itself.</param>
public sealed record ImageSetUpload(string Name, string? Parent, string Directory, IReadOnlySet<string> Exclude)
{
    public static ImageSetUpload Whole(string name, string? parent, string directory) =>
        new(name, parent, directory, new HashSet<string>(StringComparer.Ordinal));
}

/// <summary>
/// Where pre-copy delivers what it finds: the target of one session. The
/// trackers know what to send; how it crosses the network is not theirs.
/// </summary>
public interface IPrecopyTarget
{
    Task<PageStreamStats> SendPagesAsync(PageRound round, PageScan scan, IProgress<long>? bytesSent, CancellationToken cancellationToken);

    Task<TransferStats> SendImagesAsync(ImageSetUpload set, IProgress<long>? bytesSent, CancellationToken cancellationToken);
}
