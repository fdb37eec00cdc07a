using System.Runtime.InteropServices;
using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Benchmarks;

/// <summary>
/// What one round of shared memory pre-copy costs, and so what the freeze
/// pays to find what changed in shared memory: <see cref="SharedMemoryCopy"/>
/// reads all 256 MiB of an anonymous shared mapping through map_files (pread),
/// hashes every page and keeps those that changed since the last round, here
/// a 16 MiB hot set. Write-protection cannot find them (see SharedMemoryCopy),
/// so the cost is the content-hash round's plus the copy out of the object.
/// </summary>
/// <remarks>
/// The memory is this process's own, mapped MAP_SHARED | MAP_ANONYMOUS, as a
/// database's cache is; opening /proc/self/map_files needs CAP_SYS_ADMIN (run
/// as root). Each iteration's setup writes the hot set; the kept batches are
/// dropped, as if sent.
/// </remarks>
[MemoryDiagnoser]
[InvocationCount(1)]
public unsafe partial class SharedMemoryRoundBenchmarks
{
    private const int ObjectBytes = 256 << 20;
    private const int HotPages = (16 << 20) / PageSize.Bytes;
    private const int ProtRead = 0x1, ProtWrite = 0x2, MapShared = 0x01, MapAnonymous = 0x20;

    private byte* _memory;
    private SharedMemoryObject? _object;
    private SharedMemoryCopy _copy = new();

    [GlobalSetup]
    public void Setup()
    {
        _memory = (byte*)Mmap(0, ObjectBytes, ProtRead | ProtWrite, MapShared | MapAnonymous, -1, 0);
        if ((nint)_memory == -1)
        {
            throw new InvalidOperationException("mmap of the shared memory failed");
        }
        HeapLikeData.Create(ObjectBytes, seed: 1).CopyTo(new Span<byte>(_memory, ObjectBytes));
        _object = SharedMemoryCopy.Find([Environment.ProcessId]).Single(found => found.Area.Start == (ulong)_memory);
        _copy = new SharedMemoryCopy();
        // The first round: the target then holds every page.
        if (Round() != ObjectBytes / PageSize.Bytes)
        {
            throw new InvalidOperationException("the first round did not send every page");
        }
    }

    /// <summary>The process's writes since the last round: one byte in each page of the hot set, spread over the object.</summary>
    [IterationSetup]
    public void WriteHotSet()
    {
        for (int i = 0; i < HotPages; i++)
        {
            _memory[(long)i * (ObjectBytes / HotPages / PageSize.Bytes) * PageSize.Bytes]++;
        }
    }

    [Benchmark]
    public long SharedMemoryRound()
    {
        long changed = Round();
        return changed == HotPages ? changed : throw new InvalidOperationException($"the round found {changed} changed pages, not {HotPages}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (Munmap((nint)_memory, ObjectBytes) != 0)
        {
            throw new InvalidOperationException("munmap of the shared memory failed");
        }
    }

    private long Round()
    {
        var batches = Channel.CreateUnbounded<PageBatchBuilder>();
        var counts = _copy.SendChangedAsync(_object!, runs: null, batches.Writer, pagesRead: null, CancellationToken.None).GetAwaiter().GetResult()
            ?? throw new InvalidOperationException("cannot read the shared memory through /proc/self/map_files (run as root)");
        batches.Writer.Complete();
        while (batches.Reader.TryRead(out var batch))
        {
            batch.Dispose();
        }
        return counts.Changed;
    }

    [LibraryImport("libc", EntryPoint = "mmap")]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int Munmap(nint address, nuint length);
}
