namespace Migrate.Engine.Migration.Source;

/// <summary>Milliseconds since the migration started, on the source's monotonic clock: the report's timeline.</summary>
public sealed class MigrationClock(TimeProvider time)
{
    private readonly long _started = time.GetTimestamp();

    public TimeProvider Time => time;

    public double Now() => At(time.GetTimestamp());

    /// <summary>A <see cref="TimeProvider"/> timestamp as milliseconds since the start.</summary>
    public double At(long timestamp) => time.GetElapsedTime(_started, timestamp).TotalMilliseconds;

    public long Timestamp() => time.GetTimestamp();

    public double Since(long timestamp) => time.GetElapsedTime(timestamp).TotalMilliseconds;
}
