using Migrate.Engine.Memory;
using Migrate.Engine.Migration;

namespace Migrate.Engine.Tests.Migration;

public sealed class ConvergencePolicyTests
{
    private static readonly ConvergencePolicy Policy = new(MaxRounds: 8, DowntimeTarget: TimeSpan.FromMilliseconds(300));

    // A round that sent `dirty` pages at 100 MB/s.
    private static RoundStats Round(int round, long dirty, long zero = 0) =>
        new(round, PagesScanned: 65536, DirtyPages: dirty, SentPages: dirty - zero, ZeroPages: zero,
            BytesRaw: (dirty - zero) * 4096, BytesOnWire: (dirty - zero) * 4096, DurationMs: (dirty - zero) * 4096 / 100e3);

    [Fact]
    public void A_round_whose_dirty_pages_fit_the_downtime_target_converges()
    {
        // 1000 pages at 100 MB/s: 41 ms.
        Assert.Equal(PrecopyStop.Converged, Policy.Decide([Round(1, 65536), Round(2, 1000)]));
    }

    [Fact]
    public void A_shrinking_dirty_set_that_does_not_fit_yet_goes_on()
    {
        Assert.Null(Policy.Decide([Round(1, 65536)]));
        Assert.Null(Policy.Decide([Round(1, 65536), Round(2, 40000)]));
    }

    [Fact]
    public void A_dirty_set_that_shrinks_by_less_than_ten_percent_is_not_converging()
    {
        Assert.Equal(PrecopyStop.NotConverging, Policy.Decide([Round(1, 65536), Round(2, 60000)]));
    }

    [Fact]
    public void The_rounds_running_out_stops_pre_copy()
    {
        var rounds = Enumerable.Range(1, 8).Select(r => Round(r, 65536 >> (r - 1) | 20000)).ToList();

        Assert.Equal(PrecopyStop.MaxRounds, Policy.Decide(rounds));
    }

    [Fact]
    public void Zero_pages_cost_nothing_in_the_prediction()
    {
        // 20000 dirty pages but all zero: nothing to send, so it fits.
        Assert.Equal(PrecopyStop.Converged, Policy.Decide([Round(1, 65536), Round(2, 20000, zero: 20000)]));
    }

    [Fact]
    public void The_prediction_divides_dirty_bytes_by_the_measured_throughput()
    {
        Assert.Equal(1024, ConvergencePolicy.PredictFinalTransfer([Round(1, 25_000)]).TotalMilliseconds, precision: 0);
    }

    [Fact]
    public void The_throughput_is_the_stream_s_over_all_rounds_not_the_last_round_s()
    {
        // Round 1 sent 256 MiB in 1 s. Round 2 sent 16 MiB but took 1 s, scanning all memory:
        // its own rate would predict 1 s; the stream moves 16 MiB in about 120 ms.
        var round1 = new RoundStats(1, 65536, 65536, 65536, 0, 256L << 20, 256L << 20, DurationMs: 1000);
        var round2 = new RoundStats(2, 65536, 4096, 4096, 0, 16L << 20, 16L << 20, DurationMs: 1000);

        var predicted = ConvergencePolicy.PredictFinalTransfer([round1, round2]);

        Assert.InRange(predicted.TotalMilliseconds, 110, 125);
        Assert.Equal(PrecopyStop.Converged, Policy.Decide([round1, round2]));
    }
}
