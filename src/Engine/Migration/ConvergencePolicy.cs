using System.Text.Json.Serialization;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Migration;

public enum PrecopyStop
{
    /// <summary>The predicted final transfer fits the downtime target.</summary>
    [JsonStringEnumMemberName("converged")]
    Converged,

    /// <summary>The rounds ran out.</summary>
    [JsonStringEnumMemberName("maxRounds")]
    MaxRounds,

    /// <summary>A round shrank the dirty set by less than 10%: the process writes faster than we send.</summary>
    [JsonStringEnumMemberName("notConverging")]
    NotConverging,

    /// <summary>Pre-copy was off.</summary>
    [JsonStringEnumMemberName("off")]
    Off,
}

/// <summary>
/// Decides after each pre-copy round whether to go on. Pre-copy ends at the
/// first of: the last round's dirty bytes, at the throughput that round
/// measured, would fit the downtime target; the rounds ran out; a round
/// shrank the dirty set by less than <see cref="MinimumShrink"/>.
/// </summary>
public sealed record ConvergencePolicy(int MaxRounds, TimeSpan DowntimeTarget)
{
    public const double MinimumShrink = 0.10;

    /// <summary>The reason to stop after <paramref name="rounds"/>, or null to run another round.</summary>
    public PrecopyStop? Decide(IReadOnlyList<RoundStats> rounds)
    {
        if (rounds.Count == 0)
        {
            return null;
        }
        var last = rounds[^1];
        if (PredictFinalTransfer(rounds) <= DowntimeTarget)
        {
            return PrecopyStop.Converged;
        }
        if (rounds.Count >= MaxRounds)
        {
            return PrecopyStop.MaxRounds;
        }
        if (rounds.Count >= 2 && last.DirtyPages > rounds[^2].DirtyPages * (1 - MinimumShrink))
        {
            return PrecopyStop.NotConverging;
        }
        return null;
    }

    /// <summary>
    /// How long the last round's dirty pages would take to send at the
    /// throughput the pre-copy stream has measured over all its rounds. (The
    /// last round alone would be circular: its dirty pages are what it sent,
    /// so it would predict its own duration, mostly spent scanning.)
    /// </summary>
    public static TimeSpan PredictFinalTransfer(IReadOnlyList<RoundStats> rounds)
    {
        var last = rounds[^1];
        // Zero pages travel as markers: only pages with content cost time.
        double dirtyBytes = (last.DirtyPages - last.ZeroPages) * (double)PageSize.Bytes;
        if (dirtyBytes == 0)
        {
            return TimeSpan.Zero;
        }
        double seconds = rounds.Sum(round => round.DurationMs) / 1000;
        double throughput = seconds > 0 ? rounds.Sum(round => round.BytesRaw) / seconds : 0;
        return throughput > 0 ? TimeSpan.FromSeconds(dirtyBytes / throughput) : TimeSpan.MaxValue;
    }
}
