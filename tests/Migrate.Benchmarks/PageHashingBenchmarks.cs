using System.IO.Hashing;
using BenchmarkDotNet.Attributes;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Benchmarks;

/// <summary>
/// What every content-hash pre-copy round costs per page once the pages are
/// read: <see cref="SiftUnchanged"/> is <see cref="PageBatchBuilder.Sift"/> over
/// a 64 MiB task whose pages all match the hashes the target holds (a round
/// after the first, in a process that changed nothing); <see cref="XxHash128PerPage"/>
/// is the hash alone, so the difference is the bookkeeping. Round 1 is
/// <see cref="FirstRoundSiftBenchmarks"/>.
/// </summary>
/// <remarks>
/// Each batch's buffer is filled once, as process_vm_readv would fill it, and the
/// 64 MiB do not fit in any cache: this is the cold-memory cost, without the copy
/// out of the process. A sift that keeps nothing leaves its builder empty and its
/// contents in place, so the same builders serve every invocation.
/// </remarks>
[MemoryDiagnoser]
public class PageHashingBenchmarks
{
    private PageBatchBuilder[] _builders = [];
    private PageHashes _held = new();

    [GlobalSetup]
    public void Setup()
    {
        var memory = HeapLikeData.Create(TaskMemory.Bytes, seed: 1);
        _builders = TaskMemory.ReadInto(memory, pid: 4242);
        _held = new PageHashes();
        for (int page = 0; page < TaskMemory.Pages; page++)
        {
            _held.Update(TaskMemory.AddressOf(page), XxHash128.HashToUInt128(memory.AsSpan(page * PageSize.Bytes, PageSize.Bytes)));
        }
        if (SiftUnchanged() != 0)
        {
            throw new InvalidOperationException("the steady sift found changed pages");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => TaskMemory.Dispose(_builders);

    /// <summary>The same pages in the same buffers as <see cref="SiftUnchanged"/>, only hashed.</summary>
    [Benchmark(OperationsPerInvoke = TaskMemory.Pages)]
    [BytesPerOperation(PageSize.Bytes)]
    public UInt128 XxHash128PerPage()
    {
        UInt128 all = 0;
        foreach (var builder in _builders)
        {
            var pages = builder.Free;
            for (int offset = 0; offset < pages.Length; offset += PageSize.Bytes)
            {
                all ^= XxHash128.HashToUInt128(pages.Slice(offset, PageSize.Bytes));
            }
        }
        return all;
    }

    [Benchmark(OperationsPerInvoke = TaskMemory.Pages)]
    [BytesPerOperation(PageSize.Bytes)]
    public long SiftUnchanged() => TaskMemory.Sift(_builders, _held);
}
