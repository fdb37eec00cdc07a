namespace Migrate.Lab.Matrix;

/// <summary>One cell of the matrix: a process size, a dirty rate and a link rate.</summary>
/// <param name="HotSetMiB">The same hot set at every size (--hot-mib), or null for size/8.</param>
internal sealed record Cell(int SizeMiB, int RateMiBs, string Link, int? HotSetMiB = null)
{
    /// <summary>
    /// The hot set the workload rewrites: --hot-mib, else size/8, at least 1 MiB.
    /// Rate 0 is an idle process: no hot set, no writes.
    /// </summary>
    public int HotMiB => RateMiBs == 0 ? 0 : Math.Min(SizeMiB, HotSetMiB ?? Math.Max(1, SizeMiB / 8));

    /// <summary>dirtier's rate argument: at rate 0 it is 1 with no hot set, so its loop still sleeps 1 ms a turn (0 would spin).</summary>
    public int RateArgument => RateMiBs == 0 ? 1 : RateMiBs;

    /// <summary>
    /// For the workload's start (filling SIZE MiB, then two verification
    /// passes) and for two passes after a move: memory this microVM has not
    /// touched for a while is written at about 0.35 GB/s (ENVIRONMENT.md), and
    /// a lazily restored process faults its pages in as it verifies them.
    /// 60 s + 0.25 s per MiB: 17 min at 4 GiB, most of it never used.
    /// </summary>
    public TimeSpan WorkloadTimeout => TimeSpan.FromSeconds(60 + SizeMiB / 4.0);

    /// <summary>
    /// For each step of a move. Without pre-copy a 4 GiB move writes its dump,
    /// copies it and rebuilds it frozen, each at 0.35–0.4 GB/s here: about a
    /// minute in all; 5 min + 0.25 s per MiB leaves a loaded machine room.
    /// </summary>
    public TimeSpan MoveTimeout => TimeSpan.FromSeconds(300 + SizeMiB / 4.0);
}
