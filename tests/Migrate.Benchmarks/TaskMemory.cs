using Migrate.Engine.Images;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Benchmarks;

/// <summary>The task the page benchmarks copy: 64 MiB at a heap's address, read in 1 MiB batches.</summary>
internal static class TaskMemory
{
    public const int Bytes = 64 << 20;
    public const int Pages = Bytes / PageSize.Bytes;
    public const int BatchBytes = PageBatchBuilder.MaxPages * PageSize.Bytes;
    public const int Batches = Bytes / BatchBytes;
    public const ulong Address = 0x0000_55d4_c400_0000;

    public static ulong AddressOf(int page) => Address + ((ulong)page << PageSize.Shift);

    /// <summary>One builder per batch, its free space holding that batch as if process_vm_readv had just read it.</summary>
    public static PageBatchBuilder[] ReadInto(byte[] memory, int pid)
    {
        var builders = new PageBatchBuilder[Batches];
        for (int batch = 0; batch < Batches; batch++)
        {
            builders[batch] = new PageBatchBuilder(PageOwner.Task(pid));
            memory.AsSpan(batch * BatchBytes, BatchBytes).CopyTo(builders[batch].Free);
        }
        return builders;
    }

    /// <summary>Sifts every batch, as a round's scan does; returns how many pages changed.</summary>
    public static long Sift(PageBatchBuilder[] builders, PageHashes held)
    {
        long changed = 0;
        for (int batch = 0; batch < builders.Length; batch++)
        {
            changed += builders[batch].Sift(AddressOf(batch * PageBatchBuilder.MaxPages), PageBatchBuilder.MaxPages, held).Changed;
        }
        return changed;
    }

    public static void Dispose(IEnumerable<PageBatchBuilder> builders)
    {
        foreach (var builder in builders)
        {
            builder.Dispose();
        }
    }
}
