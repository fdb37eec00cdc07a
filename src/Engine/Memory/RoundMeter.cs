namespace Migrate.Engine.Memory;

/// <summary>
/// Counts a pre-copy round's progress and reports each change. A content-hash
/// round counts from two threads: the scanner's pages read and the sender's
/// bytes sent. A soft-dirty round sends CRIU's images, whose bytes are mostly
/// the pages CRIU wrote, so its pages follow the bytes.
/// </summary>
internal sealed class RoundMeter(int round, long pagesTotal, IProgress<RoundProgress>? progress, long imageBytes = 0)
{
    private long _pagesDone;
    private long _bytesSent;

    /// <summary>A soft-dirty round's image set of <paramref name="imageBytes"/> bytes holding <paramref name="pagesTotal"/> pages.</summary>
    public static RoundMeter ForImages(int round, long pagesTotal, long imageBytes, IProgress<RoundProgress>? progress) =>
        new(round, pagesTotal, progress, imageBytes);

    public void AddPagesDone(int pages)
    {
        if (progress is not null)
        {
            Report(Interlocked.Add(ref _pagesDone, pages), Interlocked.Read(ref _bytesSent));
        }
    }

    public IProgress<long>? BytesSent => progress is null ? null : new BytesSentProgress(this);

    private void OnBytesSent(long bytes)
    {
        Interlocked.Exchange(ref _bytesSent, bytes);
        long pages = imageBytes > 0 ? (long)(pagesTotal * Math.Min(1, bytes / (double)imageBytes)) : Interlocked.Read(ref _pagesDone);
        Report(pages, bytes);
    }

    private void Report(long pagesDone, long bytesSent) =>
        progress!.Report(new RoundProgress(round, pagesDone, Math.Max(pagesTotal, pagesDone), bytesSent));

    /// <summary>Reports synchronously, on the sender's thread: Progress&lt;T&gt; would post, and updates could arrive out of order.</summary>
    private sealed class BytesSentProgress(RoundMeter meter) : IProgress<long>
    {
        public void Report(long value) => meter.OnBytesSent(value);
    }
}
