using BenchmarkDotNet.Attributes;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Benchmarks;

/// <summary>
/// Round 1 of a content-hash pre-copy: <see cref="PageBatchBuilder.Sift"/> of
/// 64 MiB tasks into an empty <see cref="PageHashes"/> that grows to hold every
/// page; each zero page is split off and the pages behind it in its batch move
/// down. Random data has no zero pages, so nothing moves: the difference
/// between the two is that compaction.
/// </summary>
/// <remarks>
/// A sift that keeps pages fills its builder, so each invocation needs builders
/// freshly filled by the iteration setup: one invocation per iteration, of
/// sixteen tasks so that it lasts the 100 ms BenchmarkDotNet asks for.
/// </remarks>
[MemoryDiagnoser]
[InvocationCount(1)]
public class FirstRoundSiftBenchmarks
{
    private const int Tasks = 16;

    private byte[] _memory = [];
    private PageBatchBuilder[][] _tasks = [];

    [Params(MemoryContent.HeapLike, MemoryContent.Random)]
    public MemoryContent Content { get; set; }

    [GlobalSetup]
    public void Setup() => _memory = Content == MemoryContent.HeapLike
        ? HeapLikeData.Create(TaskMemory.Bytes, seed: 1)
        : FrameCodecBenchmarks.RandomBytes(TaskMemory.Bytes, seed: 1);

    [IterationSetup]
    public void ReadTasks() => _tasks = [.. Enumerable.Range(0, Tasks).Select(task => TaskMemory.ReadInto(_memory, pid: 4242 + task))];

    [IterationCleanup]
    public void DisposeTasks() => TaskMemory.Dispose(_tasks.SelectMany(builders => builders));

    [Benchmark(OperationsPerInvoke = Tasks * TaskMemory.Pages)]
    [BytesPerOperation(PageSize.Bytes)]
    public long SiftFirstRound()
    {
        long changed = 0;
        foreach (var builders in _tasks)
        {
            changed += TaskMemory.Sift(builders, new PageHashes());
        }
        return changed;
    }
}
