namespace Migrate.Engine.Linux;

/// <summary>The base page size of x86-64 and of the 4 KiB arm64 kernels the engine runs on.</summary>
public static class PageSize
{
    public const int Bytes = 4096;
    public const int Shift = 12;

    /// <summary>Canonical user addresses stay below 2^57 even with five-level paging.</summary>
    public const ulong UserAddressLimit = 1UL << 57;

    public static long RoundDown(long bytes) => bytes & ~(long)(Bytes - 1);

    public static long RoundUp(long bytes) => RoundDown(bytes + Bytes - 1);
}
