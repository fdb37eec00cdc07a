namespace Migrate.Engine.Linux;

/// <summary>The base page size of x86-64 and of the 4 KiB arm64 kernels the engine runs on.</summary>
public static class PageSize
{
    public const int Bytes = 4096;
    public const int Shift = 12;
}
