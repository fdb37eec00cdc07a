using System.IO.Hashing;
using BenchmarkDotNet.Attributes;
using Migrate.Engine.Memory;

namespace Migrate.Benchmarks;

/// <summary>
/// What a content-hash pre-copy round costs per page once the pages are read:
/// <see cref="PageBatchBuilder.Sift"/> over a 64 MiB task, against hashes that
/// match every page (rounds 2 and later of a process that changed nothing, the
/// cost of every round's scan) and against an empty <see cref="PageHashes"/>
/// (round 1, every page new). <see cref="XxHash128PerPage"/> is the hash
/// alone, so the difference is the bookkeeping.
/// </summary>
/// <remarks>
/// Each batch's buffer is filled once, as process_vm_readv would fill it, and
/// the 64 MiB do not fit in any cache: this is the cold-memory cost, without the
/// copy out of the process. One invocation handles the whole task (tens of
/// milliseconds), and round 1 needs fresh builders each time, hence one
/// invocation per iteration.
/// </remarks>
[MemoryDiagnoser]
[InvocationCount(1)]
public class PageHashingBenchmarks
{
    private const int TaskBytes = 64 << 20;
    private const int TaskPages = TaskBytes / PageSize.Bytes;
    private const int BatchBytes = PageBatchBuilder.MaxPages * PageSize.Bytes;
    private const int Batches = TaskBytes / BatchBytes;
    private const ulong TaskAddress = 0x0000_55d4_c400_0000;
    private const int Pid = 4242;

    private byte[] _memory = [];
    private PageBatchBuilder[] _unchanged = [];
    private PageHashes _held = new();
    private PageBatchBuilder[] _fresh = [];

    [GlobalSetup]
    public void Setup()
    {
        _memory = HeapLikeData.Create(TaskBytes, seed: 1);
        // Rounds 2+: the target holds every page as it is. Recording the hashes
        // directly leaves the builders empty, so the same builders serve every
        // invocation: a sift that keeps nothing does not move their contents.
        _held = new PageHashes();
        _unchanged = Fill(_memory);
        for (int page = 0; page < TaskPages; page++)
        {
            _held.Update(AddressOf(page), XxHash128.HashToUInt128(_memory.AsSpan(page * PageSize.Bytes, PageSize.Bytes)));
        }
        if (SiftUnchanged() != 0)
        {
            throw new InvalidOperationException("the steady sift found changed pages");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var builder in _unchanged)
        {
            builder.Dispose();
        }
    }

    [Benchmark(OperationsPerInvoke = TaskPages)]
    [BytesPerOperation(PageSize.Bytes)]
    public UInt128 XxHash128PerPage()
    {
        UInt128 all = 0;
        for (int page = 0; page < TaskPages; page++)
        {
            all ^= XxHash128.HashToUInt128(_memory.AsSpan(page * PageSize.Bytes, PageSize.Bytes));
        }
        return all;
    }

    /// <summary>A round after the first, where nothing changed: hash and compare every page, keep none.</summary>
    [Benchmark(OperationsPerInvoke = TaskPages)]
    [BytesPerOperation(PageSize.Bytes)]
    public long SiftUnchanged()
    {
        long changed = 0;
        for (int batch = 0; batch < Batches; batch++)
        {
            changed += _unchanged[batch].Sift(AddressOf(batch * PageBatchBuilder.MaxPages), PageBatchBuilder.MaxPages, _held).Changed;
        }
        return changed;
    }

    [IterationSetup(Target = nameof(SiftFirstRound))]
    public void FreshBuilders() => _fresh = Fill(_memory);

    [IterationCleanup(Target = nameof(SiftFirstRound))]
    public void DisposeFreshBuilders()
    {
        foreach (var builder in _fresh)
        {
            builder.Dispose();
        }
    }

    /// <summary>Round 1: every page is new to an empty <see cref="PageHashes"/>, which grows to the whole task.</summary>
    [Benchmark(OperationsPerInvoke = TaskPages)]
    [BytesPerOperation(PageSize.Bytes)]
    public long SiftFirstRound()
    {
        var held = new PageHashes();
        long changed = 0;
        for (int batch = 0; batch < Batches; batch++)
        {
            changed += _fresh[batch].Sift(AddressOf(batch * PageBatchBuilder.MaxPages), PageBatchBuilder.MaxPages, held).Changed;
        }
        return changed;
    }

    private static ulong AddressOf(int page) => TaskAddress + ((ulong)page << PageSize.Shift);

    /// <summary>One builder per 1 MiB batch, its free space holding that batch as if just read from the process.</summary>
    private static PageBatchBuilder[] Fill(byte[] memory)
    {
        var builders = new PageBatchBuilder[Batches];
        for (int batch = 0; batch < Batches; batch++)
        {
            builders[batch] = new PageBatchBuilder(Pid);
            memory.AsSpan(batch * BatchBytes, BatchBytes).CopyTo(builders[batch].Free);
        }
        return builders;
    }
}
