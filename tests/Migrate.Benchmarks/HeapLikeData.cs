using System.Buffers.Binary;
using System.Text;

namespace Migrate.Benchmarks;

/// <summary>
/// Memory that looks like a C process heap, for compression and hashing
/// benchmarks: random bytes (what tests/workloads/dirtier.c writes) are the
/// worst case for LZ4, while the pages a real pre-copy moves are mostly
/// allocator chunks. Each chunk has a glibc-style 16-byte header (prev_size,
/// size | PREV_INUSE) and holds one of: a record (a type pointer, links into
/// the heap, an id, small counters), a short string, an array of pointers,
/// an array of small integers, a free chunk (two links, stale zeros), or a
/// calloc'd block of zeros. scripts/bench/heapfill.c builds the same mix in a
/// live process; keep the two in step.
/// </summary>
internal static class HeapLikeData
{
    // Addresses as a PIE process has them: the heap right after the executable's data.
    private const ulong HeapBase = 0x0000_55d4_c400_0000;
    private const ulong TypeTable = 0x0000_55d4_c2a1_3d80;

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
            int kind = random.Next(100);
            int payload = kind switch
            {
                < 45 => 16 * random.Next(2, 10),   // record: 32..144 bytes
                < 65 => 16 * random.Next(1, 5),    // string: 16..64 bytes
                < 75 => 16 * random.Next(4, 32),   // pointer array: 64..496 bytes
                < 85 => 16 * random.Next(4, 64),   // integer array: 64..1008 bytes
                < 95 => 16 * random.Next(2, 16),   // free chunk
                _ => 4096 * random.Next(1, 8),     // calloc'd block
            };
            payload = Math.Min(payload, buffer.Length - offset - 16);
            payload &= ~15;
            var chunk = buffer.Slice(offset, 16 + payload);
            BinaryPrimitives.WriteUInt64LittleEndian(chunk[8..], (ulong)chunk.Length | 1);
            var body = chunk[16..];
            switch (kind)
            {
                case < 45:
                    WriteRecord(body, random, heapSpan, nextId++);
                    break;
                case < 65:
                    WriteString(body, random);
                    break;
                case < 75:
                    for (int i = 0; i + 8 <= body.Length; i += 8)
                    {
                        ulong pointer = random.Next(5) == 0 ? 0 : HeapPointer(random, heapSpan);
                        BinaryPrimitives.WriteUInt64LittleEndian(body[i..], pointer);
                    }
                    break;
                case < 85:
                    int step = random.Next(1, 4);
                    int value = random.Next(1000);
                    for (int i = 0; i + 4 <= body.Length; i += 4)
                    {
                        BinaryPrimitives.WriteInt32LittleEndian(body[i..], value);
                        value += step * random.Next(3);
                    }
                    break;
                case < 95:
                    BinaryPrimitives.WriteUInt64LittleEndian(body, HeapPointer(random, heapSpan));
                    BinaryPrimitives.WriteUInt64LittleEndian(body[8..], HeapPointer(random, heapSpan));
                    break;
                default:
                    break; // calloc: zeros
            }
            offset += chunk.Length;
        }
#pragma warning restore CA5394
    }

    private static void WriteRecord(Span<byte> body, Random random, ulong heapSpan, long id)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(body, TypeTable + 0x40 * (ulong)random.Next(16));
        BinaryPrimitives.WriteUInt64LittleEndian(body[8..], HeapPointer(random, heapSpan));
        for (int i = 16; i + 8 <= body.Length; i += 8)
        {
            ulong word = random.Next(6) switch
            {
                0 => HeapPointer(random, heapSpan),
                1 => (ulong)id,
                2 => (uint)random.Next(1, 5) | ((ulong)(uint)random.Next(4) << 32), // refcount | flags
                3 => (ulong)random.Next(100_000),
                4 => BitConverter.DoubleToUInt64Bits(1_700_000_000 + random.Next(1_000_000) / 8.0), // timestamp
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
