using BenchmarkDotNet.Attributes;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;
using Migrate.Protocol;

namespace Migrate.Benchmarks;

/// <summary>
/// The target's side of a first pre-copy round: <see cref="PageStreamReceiver"/>
/// checks, decodes (LZ4 and XxHash3) and stores the page batches of eight 64 MiB
/// tasks (enough for the 100 ms an iteration should last) into a fresh
/// <see cref="PageStore"/> on tmpfs. The batches are built as
/// <see cref="PageStreamSender"/> builds them (sifted, zero pages apart, encoded)
/// and replayed from memory, so gRPC and the network are not in the number.
/// </summary>
/// <remarks>One invocation per iteration: each needs an empty store.</remarks>
[MemoryDiagnoser]
[InvocationCount(1)]
public class PageReceiveBenchmarks
{
    private const int Tasks = 8;

    private readonly List<PageBatchBuilder> _builders = [];
    private readonly List<OutgoingFrame> _frames = [];
    private PageStreamMessage[] _messages = [];
    private string _directory = "";
    private PageStore? _store;

    [Params(MemoryContent.HeapLike, MemoryContent.Random)]
    public MemoryContent Content { get; set; }

    private string StorePath => Path.Combine(_directory, "pages.store");

    [GlobalSetup]
    public void Setup()
    {
        var memory = Content == MemoryContent.HeapLike
            ? HeapLikeData.Create(TaskMemory.Bytes, seed: 3)
            : FrameCodecBenchmarks.RandomBytes(TaskMemory.Bytes, seed: 3);
        var messages = new List<PageStreamMessage>();
        long pages = 0, zero = 0;
        for (int pid = 4242; pid < 4242 + Tasks; pid++)
        {
            // The frames point into the builders' buffers: both live until the cleanup.
            var builders = TaskMemory.ReadInto(memory, pid);
            _builders.AddRange(builders);
            TaskMemory.Sift(builders, new PageHashes());
            foreach (var builder in builders)
            {
                var frame = FrameCodec.Encode(builder.Pages);
                _frames.Add(frame);
                var batch = new PageBatch { Pid = pid, Pages = frame.Frame };
                batch.Addresses.Add(builder.Addresses.ToArray());
                batch.ZeroAddresses.Add(builder.ZeroAddresses);
                messages.Add(new PageStreamMessage { Batch = batch });
                pages += builder.Count;
                zero += builder.ZeroAddresses.Count;
            }
        }
        messages.Add(new PageStreamMessage { End = new PageStreamEnd { Pages = (ulong)pages, ZeroPages = (ulong)zero } });
        _messages = [.. messages];
        _directory = Scratch.CreateDirectory(Scratch.Tmpfs);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        TaskMemory.Dispose(_builders);
        foreach (var frame in _frames)
        {
            frame.Dispose();
        }
        Directory.Delete(_directory, recursive: true);
    }

    [IterationSetup]
    public void CreateStore() => _store = new PageStore(StorePath, new StorageAllowance("the benchmark", 1L << 32));

    [IterationCleanup]
    public void DeleteStore()
    {
        _store?.Dispose();
        File.Delete(StorePath);
    }

    [Benchmark(OperationsPerInvoke = Tasks * TaskMemory.Batches)]
    [BytesPerOperation(TaskMemory.BatchBytes)]
    public Task<PageStreamSummary> ReceiveFirstRound() =>
        PageStreamReceiver.ReceiveAsync(_messages.ToAsyncEnumerable(), _store!, CancellationToken.None);
}
