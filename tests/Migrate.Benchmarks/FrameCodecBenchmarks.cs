using BenchmarkDotNet.Attributes;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;

namespace Migrate.Benchmarks;

/// <summary>Which memory a benchmark moves.</summary>
public enum MemoryContent
{
    /// <summary><see cref="HeapLikeData"/>: allocator chunks, pointers, counters, strings, zeros.</summary>
    HeapLike,

    /// <summary>Random bytes, as tests/workloads/dirtier.c writes: LZ4 finds nothing and the frame goes raw.</summary>
    Random,
}

/// <summary>
/// <see cref="FrameCodec"/> on 1 MiB blocks, one page batch each: LZ4 and the
/// XxHash3 checksum on the sender (<see cref="Encode"/>), and decompression and
/// the checksum check on the receiver (<see cref="Decode"/>). 32 distinct
/// blocks per invocation, so the input is not one cache-hot block.
/// </summary>
[MemoryDiagnoser]
public class FrameCodecBenchmarks
{
    private const int BlockBytes = PageBatchBuilder.MaxPages * PageSize.Bytes;
    private const int Blocks = 32;

    private byte[][] _blocks = [];
    private OutgoingFrame[] _encoded = [];
    private byte[] _decoded = [];

    [Params(MemoryContent.HeapLike, MemoryContent.Random)]
    public MemoryContent Content { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var memory = Content == MemoryContent.HeapLike
            ? HeapLikeData.Create(Blocks * BlockBytes, seed: 2)
            : RandomBytes(Blocks * BlockBytes, seed: 2);
        _blocks = [.. memory.Chunk(BlockBytes)];
        _encoded = [.. _blocks.Select(block => FrameCodec.Encode(block))];
        _decoded = new byte[BlockBytes];
        long wire = _encoded.Sum(frame => (long)frame.Frame.Data.Length);
        Console.WriteLine($"// {Content}: {Blocks} MiB encode to {wire / (double)(1 << 20):F1} MiB, LZ4 ratio {memory.Length / (double)wire:F2}x");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var frame in _encoded)
        {
            frame.Dispose();
        }
    }

    /// <summary>What the sender does to each batch; returns the bytes it would put on the wire.</summary>
    [Benchmark(OperationsPerInvoke = Blocks)]
    [BytesPerOperation(BlockBytes)]
    public long Encode()
    {
        long wire = 0;
        foreach (var block in _blocks)
        {
            using var frame = FrameCodec.Encode(block);
            wire += frame.Frame.Data.Length;
        }
        return wire;
    }

    [Benchmark(OperationsPerInvoke = Blocks)]
    [BytesPerOperation(BlockBytes)]
    public long Decode()
    {
        long raw = 0;
        foreach (var frame in _encoded)
        {
            raw += FrameCodec.Decode(frame.Frame, _decoded, BlockBytes);
        }
        return raw;
    }

    internal static byte[] RandomBytes(int bytes, int seed)
    {
        var buffer = new byte[bytes];
#pragma warning disable CA5394 // Not security-sensitive: test data.
        new Random(seed).NextBytes(buffer);
#pragma warning restore CA5394
        return buffer;
    }
}
