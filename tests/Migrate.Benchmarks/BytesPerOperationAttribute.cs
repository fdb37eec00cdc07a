namespace Migrate.Benchmarks;

/// <summary>
/// How many bytes of memory one operation of a benchmark moves (after
/// <c>OperationsPerInvoke</c>): <see cref="ThroughputColumn"/> turns the mean
/// time per operation into GB/s with it.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BytesPerOperationAttribute(long bytes) : Attribute
{
    public long Bytes { get; } = bytes;
}
