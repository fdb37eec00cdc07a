namespace Migrate.Engine.Tests;

internal static class TestBytes
{
    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Heap-like bytes: short repeating records, which LZ4 compresses well.</summary>
    public static byte[] Repeating(int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)(i % 61 < 8 ? i / 61 : 0);
        }
        return bytes;
    }
}
