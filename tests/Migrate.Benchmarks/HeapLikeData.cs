using System.Buffers.Binary;
using System.Text;

namespace Migrate.Benchmarks;

/// <summary>
/// Memory that looks like a C process heap, for compression and hashing
/// benchmarks: random bytes (what tests/workloads/dirtier.c writes) are the
/// worst case for LZ4, while the pages a real pre-copy moves are mostly
/// allocator chunks. Each chunk has a glibc-style 16-byte header (prev_size,
/// size | PREV_INUSE) and holds one of: a record (a type pointer, then
/// fields laid out by type: links into the heap, ids, refcounts, small
/// numbers, timestamps, zeros), a short string, an array of pointers, an
/// array of counters, a free chunk (two links, zeros) or, rarely, a calloc'd
/// block. LZ4 (fast, 1 MiB blocks) shrinks it about 3x, as it does the heaps
/// of a real redis-server (3.0x) and python3 (3.9x) measured on this machine.
/// tests/workloads/heapfill.c builds the same mix in a live process; keep the
/// two in step.
/// </summary>
internal static class HeapLikeData
{
    // Addresses as a PIE process has them: the heap right after the executable's data.
    private const ulong HeapBase = 0x0000_55d4_c400_0000;
    private const ulong TypeTable = 0x0000_55d4_c2a1_3d80;
    private const int PageBytes = 4096;

    private static readonly string[] Words =
    [
        "user", "session", "id", "name", "count", "cache", "key", "value", "node", "list",
        "http", "GET", "/api/v1/items", "application/json", "ok", "error", "timeout", "host",
    ];

    /// <summary>A fresh array of <paramref name="bytes"/> heap-like bytes; the same seed gives the same bytes.</summary>
    public static byte[] Create(int bytes, int seed)
    {
        var buffer = new byte[bytes];
        Fill(buffer, seed);
        return buffer;
    }

    // Chunk kinds, in per mille of chunks. By bytes, calloc'd zeros are about 7%.
    private const int Record = 450, Text = 650, Pointers = 750, Integers = 850, Free = 998;

    public static void Fill(Span<byte> buffer, int seed)
    {
        buffer.Clear();
        // Random(int) is a deterministic generator: benchmark runs compare like with like.
#pragma warning disable CA5394 // Not security-sensitive: test data.
        var random = new Random(seed);
        ulong heapSpan = (ulong)buffer.Length;
        long nextId = 1;
        int offset = 0;
        while (offset + 32 <= buffer.Length)
        {
            int kind = random.Next(1000);
            int payload = kind switch
            {
                < Record => 16 * random.Next(2, 10),
                < Text => 16 * random.Next(1, 5),
                < Pointers => 16 * random.Next(4, 32),
                < Integers => 16 * random.Next(4, 64),
                < Free => 16 * random.Next(2, 16),
                _ => PageBytes * random.Next(1, 4), // calloc'd
            };
            payload = Math.Min(payload, buffer.Length - offset - 16) & ~15;
            var chunk = buffer.Slice(offset, 16 + payload);
            BinaryPrimitives.WriteUInt64LittleEndian(chunk[8..], (ulong)chunk.Length | 1); // size | PREV_INUSE
            var body = chunk[16..];
            switch (kind)
            {
                case < Record:
                    WriteRecord(body, random, heapSpan, nextId++);
                    break;
                case < Text:
                    WriteString(body, random);
                    break;
                case < Pointers:
                    // Half point to objects allocated one after another, as a list's items are.
                    ulong pointer = HeapPointer(random, heapSpan);
                    ulong stride = random.Next(2) == 0 ? 16 * (ulong)random.Next(2, 10) : 0;
                    for (int i = 0; i + 8 <= body.Length; i += 8, pointer += stride)
                    {
                        ulong value = stride != 0 ? pointer : random.Next(5) == 0 ? 0 : HeapPointer(random, heapSpan);
                        BinaryPrimitives.WriteUInt64LittleEndian(body[i..], value);
                    }
                    break;
                case < Integers:
                    // Counters: runs of equal values, now and then a step.
                    int step = random.Next(1, 4);
                    int counter = random.Next(1000);
                    for (int i = 0; i + 4 <= body.Length; i += 4)
                    {
                        BinaryPrimitives.WriteInt32LittleEndian(body[i..], counter);
                        counter += random.Next(4) == 0 ? step : 0;
                    }
                    break;
                case < Free:
                    // fd and bk; the rest zeros.
                    BinaryPrimitives.WriteUInt64LittleEndian(body, HeapPointer(random, heapSpan));
                    BinaryPrimitives.WriteUInt64LittleEndian(body[8..], HeapPointer(random, heapSpan));
                    break;
                default:
                    break; // calloc'd: zeros
            }
            offset += chunk.Length;
        }
#pragma warning restore CA5394
    }

    /// <summary>Records of one type share a layout: a field's kind depends on the type and its position.</summary>
    private static void WriteRecord(Span<byte> body, Random random, ulong heapSpan, long id)
    {
        int type = random.Next(16);
        BinaryPrimitives.WriteUInt64LittleEndian(body, TypeTable + 0x40 * (ulong)type); // as a vtable or type descriptor
        for (int i = 8; i + 8 <= body.Length; i += 8)
        {
            ulong word = (((type * 7) + (i / 8 * 5)) % 6) switch
            {
                0 => HeapPointer(random, heapSpan),
                1 => (ulong)id,
                2 => (uint)random.Next(1, 5) | ((ulong)(uint)random.Next(4) << 32), // refcount | flags
                3 => (ulong)random.Next(100_000),
                4 => BitConverter.DoubleToUInt64Bits(1_700_000_000 + (random.Next(1_000_000) / 8.0)), // a timestamp
                _ => 0,
            };
            BinaryPrimitives.WriteUInt64LittleEndian(body[i..], word);
        }
    }

    private static void WriteString(Span<byte> body, Random random)
    {
        var text = new StringBuilder();
        while (text.Length < body.Length - 12)
        {
            text.Append(Words[random.Next(Words.Length)]).Append(random.Next(2) == 0 ? ':' : '_');
            if (random.Next(2) == 0)
            {
                text.Append(random.Next(10_000));
            }
        }
        int length = Math.Min(text.Length, body.Length - 1);
        Encoding.ASCII.GetBytes(text.ToString(0, length), body);
    }

    private static ulong HeapPointer(Random random, ulong heapSpan) =>
        HeapBase + ((ulong)random.NextInt64((long)heapSpan) & ~15UL) + 16;
}
