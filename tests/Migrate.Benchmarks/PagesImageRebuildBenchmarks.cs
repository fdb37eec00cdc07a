using BenchmarkDotNet.Attributes;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Benchmarks;

/// <summary>
/// The target's work at restore time in a content-hash migration:
/// <see cref="PagesImageRebuilder.Rebuild"/> writes CRIU's pages-N.img for a
/// task with 64 MiB of present pages from the <see cref="PageStore"/>, in
/// pagemap order, eight times per invocation so that it lasts the 100 ms
/// BenchmarkDotNet asks for. On tmpfs it measures our code; on the root file system
/// (ext4, no fsync) the page cache too, which is what an agent with its
/// default work directory pays.
/// </summary>
/// <remarks>
/// The pagemap mixes short runs (a library's data, a stack), heap pieces
/// between untouched pages and large fully-touched buffers. The store is
/// filled as the rounds fill it: round 1 in address order, zero pages as
/// index entries only, and a few pages that first appeared in the final dump
/// in slots at the end, which breaks their runs' contiguity.
/// </remarks>
[MemoryDiagnoser]
[InvocationCount(1)]
public class PagesImageRebuildBenchmarks
{
    private const int Pid = 4242;
    private const int Rebuilds = 8;

    private string _directory = "";
    private PageStore? _store;
    private PagemapImage _pagemap = new(1, []);

    [Params(Scratch.Tmpfs, Scratch.Disk)]
    public string FileSystem { get; set; } = Scratch.Tmpfs;

    [GlobalSetup]
    public void Setup()
    {
        _directory = Scratch.CreateDirectory(FileSystem);
        var random = new Random(5);
        _pagemap = new PagemapImage(1, RealisticRuns(TaskMemory.Pages, random));
        var memory = HeapLikeData.Create(TaskMemory.Bytes, seed: 5);
        _store = new PageStore(Path.Combine(_directory, "pages.store"), new StorageAllowance("the benchmark", 1L << 32));

        var addresses = _pagemap.Runs.SelectMany(run => Enumerable.Range(0, (int)run.Pages).Select(i => run.Address + ((ulong)i << PageSize.Shift))).ToArray();
#pragma warning disable CA5394 // Not security-sensitive: test data.
        var lateComers = addresses.Select(_ => random.Next(100) < 2).ToArray();
#pragma warning restore CA5394
        Store(addresses, memory, page => !lateComers[page]);
        Store(addresses, memory, page => lateComers[page]);
        Console.WriteLine($"// pagemap: {_pagemap.Runs.Count} runs of 1 to {_pagemap.Runs.Max(run => run.Pages)} pages; " +
            $"{_store.Pages - _store.BytesStored / PageSize.Bytes} zero pages, {lateComers.Count(late => late)} pages stored last");

        // The rebuilt image must hold the task's pages in pagemap order, byte for byte.
        Rebuild();
        if (!File.ReadAllBytes(Output(0)).AsSpan().SequenceEqual(memory))
        {
            throw new InvalidOperationException("the rebuilt pages image differs from the task's memory");
        }
        DeleteOutputs();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [IterationCleanup]
    public void DeleteOutputs()
    {
        for (int i = 0; i < Rebuilds; i++)
        {
            File.Delete(Output(i));
        }
    }

    [Benchmark(OperationsPerInvoke = Rebuilds)]
    [BytesPerOperation(TaskMemory.Bytes)]
    public long Rebuild()
    {
        long written = 0;
        for (int i = 0; i < Rebuilds; i++)
        {
            written += PagesImageRebuilder.Rebuild(_store!, Pid, _pagemap.Runs, Output(i));
        }
        return written;
    }

    private string Output(int i) => Path.Combine(_directory, $"pages-{i + 1}.img");

    /// <summary>Present runs totalling <paramref name="pages"/>, separated by holes (untouched pages or gaps between mappings).</summary>
    private static List<PagemapRun> RealisticRuns(int pages, Random random)
    {
#pragma warning disable CA5394 // Not security-sensitive: test data.
        var runs = new List<PagemapRun>();
        ulong address = 0x0000_55d4_c2a0_0000;
        for (int left = pages; left > 0;)
        {
            int length = random.Next(100) switch
            {
                < 50 => random.Next(1, 9),
                < 85 => random.Next(9, 257),
                _ => random.Next(257, 4097),
            };
            length = Math.Min(length, left);
            runs.Add(new PagemapRun(address, length, PagemapRun.Present));
            address += (ulong)(length + random.Next(1, 33)) << PageSize.Shift;
            left -= length;
        }
#pragma warning restore CA5394
        return runs;
    }

    /// <summary>Sends the chosen pages to the store in batches, as a round does: zero pages apart.</summary>
    private void Store(ulong[] addresses, byte[] memory, Func<int, bool> chosen)
    {
        var batch = new List<ulong>();
        var zero = new List<ulong>();
        var content = new byte[PageBatchBuilder.MaxPages * PageSize.Bytes];
        for (int page = 0; page < addresses.Length; page++)
        {
            if (!chosen(page))
            {
                continue;
            }
            var source = memory.AsSpan(page * PageSize.Bytes, PageSize.Bytes);
            if (!source.ContainsAnyExcept((byte)0))
            {
                zero.Add(addresses[page]);
                continue;
            }
            source.CopyTo(content.AsSpan(batch.Count * PageSize.Bytes));
            batch.Add(addresses[page]);
            if (batch.Count == PageBatchBuilder.MaxPages)
            {
                Flush();
            }
        }
        Flush();

        void Flush()
        {
            _store!.Write(Pid, batch.ToArray(), content.AsSpan(0, batch.Count * PageSize.Bytes));
            _store.WriteZero(Pid, zero.ToArray());
            batch.Clear();
            zero.Clear();
        }
    }
}
