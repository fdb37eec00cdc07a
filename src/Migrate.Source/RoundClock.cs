using Migrate.Engine.Memory;

namespace Migrate.Source;

/// <summary>When the pre-copy round in progress began, to estimate the time it has left.</summary>
internal sealed class RoundClock(TimeProvider time)
{
    private int _round;
    private long _started;

    /// <summary>The time <paramref name="scan"/>'s round has left, or null when unknown; a new round number starts the clock again.</summary>
    public TimeSpan? Left(RoundProgress? scan)
    {
        if (scan is not { } progress)
        {
            return null;
        }
        if (progress.Round != _round)
        {
            _round = progress.Round;
            _started = time.GetTimestamp();
        }
        return progress.EstimateLeft(time.GetElapsedTime(_started));
    }
}
