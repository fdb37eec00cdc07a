using BenchmarkDotNet.Attributes;
using Migrate.Engine.Memory;
using Migrate.Engine.Transfer;
using Migrate.Protocol;

namespace Migrate.Benchmarks;

/// <summary>
/// The target's side of a first pre-copy round: <see cref="PageStreamReceiver"/>
/// checks, decodes (LZ4 and XxHash3) and stores 64 MiB of page batches into a
/// fresh <see cref="PageStore"/> on tmpfs. The batches are built as
/// <see cref="PageStreamSender"/> builds them (sifted, zero pages apart, encoded)
/// and replayed from memory, so gRPC and the network are not in the number.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1)]
public class PageReceiveBenchmarks
{
    private const int TaskBytes = 64 << 20;
    private const int BatchBytes = PageBatchBuilder.MaxPages * PageSize.Bytes;
    private const ulong TaskAddress = 0x0000_55d4_c400_0000;
    private const int Pid = 4242;

    private readonly List<PageBatchBuilder> _builders = [];
    private readonly List<OutgoingFrame> _frames = [];
    private PageStreamMessage[] _messages = [];
    private string _directory = "";
    private PageStore? _store;

    [Params(MemoryContent.HeapLike, MemoryContent.Random)]
    public MemoryContent Content { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var memory = Content == MemoryContent.HeapLike
            ? HeapLikeData.Create(TaskBytes, seed: 3)
            : FrameCodecBenchmarks.RandomBytes(TaskBytes, seed: 3);
        var held = new PageHashes();
        var messages = new List<PageStreamMessage>();
        long pages = 0, zero = 0;
        for (int offset = 0; offset < TaskBytes; offset += BatchBytes)
        {
            // The frames point into the builders' buffers: both live until the cleanup.
            var builder = new PageBatchBuilder(Pid);
            _builders.Add(builder);
            memory.AsSpan(offset, BatchBytes).CopyTo(builder.Free);
            builder.Sift(TaskAddress + (ulong)offset, PageBatchBuilder.MaxPages, held);
            var frame = FrameCodec.Encode(builder.Pages);
            _frames.Add(frame);
            var batch = new PageBatch { Pid = Pid, Pages = frame.Frame };
            batch.Addresses.Add(builder.Addresses.ToArray());
            batch.ZeroAddresses.Add(builder.ZeroAddresses);
            messages.Add(new PageStreamMessage { Batch = batch });
            pages += builder.Count;
            zero += builder.ZeroAddresses.Count;
        }
        messages.Add(new PageStreamMessage { End = new PageStreamEnd { Pages = (ulong)pages, ZeroPages = (ulong)zero } });
        _messages = [.. messages];
        _directory = Scratch.CreateDirectory(Scratch.Tmpfs);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var frame in _frames)
        {
            frame.Dispose();
        }
        foreach (var builder in _builders)
        {
            builder.Dispose();
        }
        Directory.Delete(_directory, recursive: true);
    }

    [IterationSetup]
    public void FreshStore() => _store = new PageStore(Path.Combine(_directory, "pages.store"), maxBytes: 1L << 32);

    [IterationCleanup]
    public void DeleteStore()
    {
        _store?.Dispose();
        File.Delete(Path.Combine(_directory, "pages.store"));
    }

    [Benchmark]
    [BytesPerOperation(TaskBytes)]
    public Task<PageStreamSummary> ReceiveFirstRound() =>
        PageStreamReceiver.ReceiveAsync(_messages.ToAsyncEnumerable(), _store!, CancellationToken.None);
}
