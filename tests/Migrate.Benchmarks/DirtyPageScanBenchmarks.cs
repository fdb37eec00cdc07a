using System.IO.Hashing;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Benchmarks;

/// <summary>
/// What finding one pre-copy round's dirty pages costs in each tracking mode,
/// for a 256 MiB process that rewrote a 16 MiB hot set since the last round:
/// <see cref="WriteProtectScan"/> is the PAGEMAP_SCAN that
/// <see cref="WriteProtectTracker"/> runs each round (write-protect mode),
/// reporting the written pages and protecting them again; <see cref="ContentHashRound"/>
/// hashes every page and compares it with the last round's hash, as a
/// content-hash round does once the pages are read (the copy out of the process
/// comes on top). The hot set is one run of pages, or every 16th page
/// (4096 runs to report). Soft-dirty, the third mode, needs CONFIG_MEM_SOFT_DIRTY,
/// which this kernel lacks (ENVIRONMENT.md).
/// </summary>
/// <remarks>
/// The memory is this process's own, registered with a userfaultfd of its own
/// in asynchronous write-protect mode, so the kernel resolves the write faults
/// itself, as in a tracked process. Each iteration's setup writes the hot set
/// and each iteration scans once: one round per invocation.
/// </remarks>
[MemoryDiagnoser]
[InvocationCount(1)]
public unsafe class DirtyPageScanBenchmarks
{
    private const int ProcessBytes = 256 << 20;
    private const int ProcessPages = ProcessBytes / PageSize.Bytes;
    private const int HotPages = (16 << 20) / PageSize.Bytes;

    private byte* _memory;
    private ulong _start;
    private UserfaultfdHandle? _userfaultfd;
    private ProcFs.Pagemap? _pagemap;
    private readonly Interop.PageRegion[] _regions = new Interop.PageRegion[4096];
    private PageHashes _held = new();

    public enum HotSetShape
    {
        /// <summary>16 MiB in one run.</summary>
        Contiguous,

        /// <summary>Every 16th page of the 256 MiB.</summary>
        Scattered,
    }

    [Params(HotSetShape.Contiguous, HotSetShape.Scattered)]
    public HotSetShape HotSet { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _memory = (byte*)NativeMemory.AlignedAlloc(ProcessBytes, PageSize.Bytes);
        _start = (ulong)_memory;
        var content = HeapLikeData.Create(ProcessBytes, seed: 1);
        content.CopyTo(new Span<byte>(_memory, ProcessBytes));
        _held = new PageHashes();
        for (int page = 0; page < ProcessPages; page++)
        {
            _held.Update(Address(page), XxHash128.HashToUInt128(Page(page)));
        }
        int fd = (int)Interop.Syscall(Interop.SyscallNumbers.Userfaultfd, Interop.O_CLOEXEC | Interop.O_NONBLOCK | Interop.UFFD_USER_MODE_ONLY, 0, 0, 0, 0);
        if (fd < 0)
        {
            throw new InvalidOperationException("userfaultfd(2) failed: write-protect tracking needs Linux 6.7 or newer");
        }
        _userfaultfd = new UserfaultfdHandle(fd, Environment.ProcessId);
        _userfaultfd.EnableFeatures(Interop.UFFD_FEATURE_WP_ASYNC | Interop.UFFD_FEATURE_WP_UNPOPULATED);
        if (_userfaultfd.RegisterWriteProtect(_start, _start + ProcessBytes) is { } error)
        {
            throw new InvalidOperationException($"UFFDIO_REGISTER failed: {error}");
        }
        _userfaultfd.WriteProtect(_start, _start + ProcessBytes);
        _pagemap = ProcFs.Pagemap.Open(Environment.ProcessId)!;
    }

    /// <summary>The process's writes since the last round: one byte in each page of the hot set.</summary>
    [IterationSetup]
    public void WriteHotSet()
    {
        for (int i = 0; i < HotPages; i++)
        {
            _memory[(long)HotPage(i) * PageSize.Bytes]++;
        }
    }

    [Benchmark]
    public long WriteProtectScan()
    {
        long pages = 0;
        ulong end = _start + ProcessBytes;
        for (ulong start = _start; start < end;)
        {
            int count = _pagemap!.ScanWritten(start, end, _regions, protect: true, out ulong walkEnd);
            for (int i = 0; i < count; i++)
            {
                pages += (long)((_regions[i].End - _regions[i].Start) >> PageSize.Shift);
            }
            start = walkEnd > start ? walkEnd : end;
        }
        return pages == HotPages ? pages : throw new InvalidOperationException($"the scan found {pages} written pages, not {HotPages}");
    }

    [Benchmark(Baseline = true)]
    public long ContentHashRound()
    {
        long changed = 0;
        for (int page = 0; page < ProcessPages; page++)
        {
            changed += _held.Update(Address(page), XxHash128.HashToUInt128(Page(page))) ? 1 : 0;
        }
        return changed == HotPages ? changed : throw new InvalidOperationException($"hashing found {changed} changed pages, not {HotPages}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pagemap?.Dispose();
        _userfaultfd?.Dispose();
        NativeMemory.AlignedFree(_memory);
    }

    private int HotPage(int i) => HotSet == HotSetShape.Contiguous ? i : i * (ProcessPages / HotPages);

    private ulong Address(int page) => _start + ((ulong)page << PageSize.Shift);

    private ReadOnlySpan<byte> Page(int page) => new(_memory + ((long)page * PageSize.Bytes), PageSize.Bytes);
}
