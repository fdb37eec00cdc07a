using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Migrate.Target;

/// <summary>
/// Kestrel's socket transport reads into whole blocks of its memory pool, and
/// the default blocks are 4 KiB: a stream of page batches then costs one
/// recvfrom per 2 to 4 KiB, and system calls are what costs most here. Larger
/// blocks let each read take up to <see cref="LargeBlockMemoryPool.BlockSize"/>.
/// </summary>
internal sealed class LargeBlockMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
}

internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;

    private readonly ConcurrentBag<byte[]> _free = [];

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"blocks hold {BlockSize} bytes");
        }
        // Pinned, like Kestrel's own blocks: sockets read straight into them.
        var block = _free.TryTake(out var reused) ? reused : GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        return new Block(this, block);
    }

    protected override void Dispose(bool disposing) => _free.Clear();

    private sealed class Block(LargeBlockMemoryPool pool, byte[] array) : IMemoryOwner<byte>
    {
        private byte[]? _array = array;

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Block));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } returned)
            {
                pool._free.Add(returned);
            }
        }
    }
}
